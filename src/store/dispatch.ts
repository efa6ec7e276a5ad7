/**
 * The dispatcher's queries: claim, record, and the housekeeping that moves messages along
 * (promote scheduled, expire, reap dead leases). Each is one statement, so one round trip;
 * round trips and commits dominate the dispatcher's cost (measured here: claim + attempt + mark
 * in one statement ran 1.3–2× the five-round-trip transaction, see docs/store.md).
 */
import { assertNever } from "../errors.js";
import { canTransition, TERMINAL_STATUSES, type MessageStatus } from "../messages/lifecycle.js";
import type { Db } from "./db.js";
import type { MessageRow } from "./rows.js";

export interface ClaimedMessage extends MessageRow {
  suppressed: boolean;
}

// Claim due messages: highest lane first, then oldest due. SKIP LOCKED lets any number of
// workers claim side by side without waiting on each other's rows. `status = 'queued'` is
// written out (not a parameter) so the planner can use the partial index messages_due_idx.
// Each message is given the account it will be sent through, in the same statement, so a worker
// that dies mid-call leaves a record of where the call may have gone: the first usable account
// at or after the message's route position, else the last usable one; an in-doubt message keeps
// the account its last attempt went to (it is reconciled there). A probe claim ($7) takes only
// messages that will really go to the probed account.
const CLAIM = `
  ${dueCtes({ limit: 1, accounts: 4, providers: 5, positions: 6, probe: 7, prefixes: 8, anyPrefix: 9, lane: 10 })}
  update smsq.messages m
  set status = 'sending', lease_owner = $2,
      lease_expires_at = now() + $3 * interval '1 millisecond',
      attempts = m.attempts + 1,
      account = c.account, provider = c.provider, sender = null,
      updated_at = now()
  from chosen c
  where m.id = c.id
  returning m.*, exists (select 1 from smsq.suppressions s where s.phone = m.to_number) as suppressed`;

/** Parameter numbers of the due-message CTEs, so two statements can share them. */
export interface DueParams {
  limit: number;
  accounts: number;
  providers: number;
  positions: number;
  probe: number;
  prefixes: number;
  anyPrefix: number;
  lane: number;
}

/**
 * The CTEs that pick due messages (locked, SKIP LOCKED) and the account each will go through:
 * `chosen` (id, account, provider). Shared by the plain claim and the limiter's claim.
 */
export function dueCtes(p: DueParams): string {
  return `with usable as (
    select * from unnest($${p.accounts}::text[], $${p.providers}::text[], $${p.positions}::int[],
                         $${p.prefixes}::text[])
      as u(account, provider, pos, prefixes)
  ), due as (
    select id, route_step, to_number, in_doubt, account as last_account, provider as last_provider,
           lane, run_at
    from smsq.messages m
    where status = 'queued' and run_at <= now()
      and (valid_until is null or valid_until > now())
      and (not $${p.probe}::boolean or not m.in_doubt or m.account = any($${p.accounts}::text[]))
      -- A lane's share round takes only that lane (still the due index: lane, run_at).
      and ($${p.lane}::smallint is null or lane = $${p.lane})
      -- Only when some account is limited to some destinations, skip messages that no
      -- usable account can send to: they wait for one that can.
      and (not $${p.anyPrefix}::boolean or m.in_doubt or exists (
        select 1 from usable u
        where u.prefixes = ''
           or exists (select 1 from unnest(string_to_array(u.prefixes, ',')) p(prefix)
                      where m.to_number like p.prefix || '%')))
    order by lane, run_at
    limit $${p.limit}
    for update skip locked
  ), reach as (
    -- The usable accounts that can send to each claimed message's number.
    select due.id, u.account, u.provider, u.pos
    from due join usable u
      on u.prefixes = ''
      or exists (select 1 from unnest(string_to_array(u.prefixes, ',')) p(prefix)
                 where due.to_number like p.prefix || '%')
  ), chosen as (
    -- One account per message: the first usable one at or after its route position, else the
    -- last usable one; an in-doubt message keeps the account its last attempt went to (it is
    -- reconciled there). One sort of all pairs: a lateral subquery per message scanned the
    -- whole of \`reach\` for each one, K² rows (3 of the claim's 6 ms at K = 100).
    select distinct on (due.id) due.id, due.lane, due.run_at,
           case when due.in_doubt and due.last_account is not null then due.last_account
                else r.account end as account,
           case when due.in_doubt and due.last_provider is not null then due.last_provider
                else r.provider end as provider
    from due join reach r on r.id = due.id
    order by due.id, r.pos < due.route_step,
             case when r.pos >= due.route_step then r.pos else -r.pos end
  )`;
}

/** An account a claim may send through, with its position in the route. */
export interface UsableAccount {
  account: string;
  provider: string;
  position: number;
  /** E.164 prefixes it can send to (e.g. "+1"); absent or empty: everywhere. */
  destinations?: readonly string[];
}

export interface ClaimOptions {
  workerId: string;
  limit: number;
  leaseMs: number;
  /** The route's accounts that may send now (circuit closed, not cooling down). */
  accounts: readonly UsableAccount[];
  /** A half-open probe: claim only messages that will go to these accounts. */
  probe?: boolean;
  /** Claim only from this lane (0 high, 1 normal, 2 low): the lower lanes' guaranteed share. */
  lane?: number;
}

/** Claims up to `limit` due messages for this worker, under a lease. */
export async function claimDue(db: Db, o: ClaimOptions): Promise<ClaimedMessage[]> {
  if (o.accounts.length === 0) return [];
  const rows = await db.query<ClaimedMessage>(CLAIM, [
    o.limit,
    o.workerId,
    o.leaseMs,
    o.accounts.map((a) => a.account),
    o.accounts.map((a) => a.provider),
    o.accounts.map((a) => a.position),
    o.probe ?? false,
    o.accounts.map((a) => (a.destinations ?? []).join(",")),
    o.accounts.some((a) => (a.destinations ?? []).length > 0),
    o.lane ?? null,
  ]);
  // Oldest first within a lane, as claimed: keeps sends close to submission order.
  return rows.sort((a, b) => a.lane - b.lane || +a.run_at - +b.run_at);
}

/** What happened to one claimed message. */
export interface Outcome {
  messageId: string;
  status: Extract<
    MessageStatus,
    "sent" | "delivered" | "undelivered" | "queued" | "failed" | "expired" | "suppressed"
  >;
  /** For `queued`: when to try again. */
  runAt?: Date;
  providerMessageId?: string | null;
  error?: { code: string | null; message: string | null; class: string | null; rule?: string };
  /** True when this attempt did not spend the message's budget (rate limit, account failure). */
  free?: boolean;
  /** Whether the message is in doubt afterwards (unchanged when undefined). */
  inDoubt?: boolean;
  /** New route position and failures there (unchanged when undefined). */
  routeStep?: number;
  stepFailures?: number;
  /** The provider call, if one was made. */
  attempt?: {
    number: number;
    provider: string;
    account: string;
    outcome: "accepted" | "failed" | "reconciled";
    providerStatus: string | null;
    httpStatus: number | null;
    startedAt: Date;
    finishedAt: Date;
  };
}

// Record a batch of outcomes in one statement: every provider call becomes an attempt row
// (whatever happened to the lease: the call was made), and each message the worker still holds
// moves to its new status with a status event. A message whose lease was lost is left alone.
const RECORD = `
  with v as (
    select * from unnest($2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $23::int[], $24::boolean[], $25::text[],
                         $26::int[], $27::int[])
      as t(id, status, run_at, provider_message_id, error_code, error_message, error_class,
           free, in_doubt, error_rule, route_step, step_failures)
  ), upd as (
    update smsq.messages m
    set status = v.status,
        route_step = coalesce(v.route_step, m.route_step),
        step_failures = coalesce(v.step_failures, m.step_failures),
        free_attempts = m.free_attempts + v.free,
        in_doubt = coalesce(v.in_doubt, m.in_doubt),
        run_at = coalesce(v.run_at, m.run_at),
        provider_message_id = coalesce(v.provider_message_id, m.provider_message_id),
        last_error_code = case when v.error_code is null and v.error_message is null
                          then m.last_error_code else v.error_code end,
        last_error_message = case when v.error_code is null and v.error_message is null
                             then m.last_error_message else v.error_message end,
        last_error_class = case when v.error_code is null and v.error_message is null
                           then m.last_error_class else v.error_class end,
        sent_at = case when v.status in ('sent', 'delivered', 'undelivered') then now()
                  else m.sent_at end,
        completed_at = case when v.status = any($9::text[]) then now() else null end,
        lease_owner = null, lease_expires_at = null, updated_at = now()
    from v
    where m.id = v.id and m.status = 'sending' and m.lease_owner = $1
    returning m.id, m.status, v.error_code, v.error_class, v.error_rule
  ), att as (
    insert into smsq.attempts (message_id, attempt, provider, account, worker_id, outcome,
                               provider_message_id, provider_status, http_status, error_code,
                               error_message, error_class, started_at, finished_at, latency_ms)
    select a.id, a.n, a.provider, a.account, $1, a.outcome, a.pid, a.pstatus, a.http,
           a.code, a.msg, a.class, a.started, a.finished,
           (extract(epoch from a.finished - a.started) * 1000)::int
    from unnest($10::text[], $11::int[], $12::text[], $13::text[], $14::text[], $15::text[],
                $16::text[], $17::int[], $18::text[], $19::text[], $20::text[],
                $21::timestamptz[], $22::timestamptz[])
      as a(id, n, provider, account, outcome, pid, pstatus, http, code, msg, class, started,
           finished)
  ), ev as (
    insert into smsq.message_events (message_id, type, from_status, to_status, source, detail)
    select id, 'status', 'sending', status, 'dispatcher',
           case when error_code is null and error_class is null then null
                else jsonb_build_object('errorCode', error_code, 'errorClass', error_class,
                                        'rule', error_rule) end
    from upd
  )
  select id from upd`;

/** Records outcomes; returns the ids whose lease this worker no longer held (left unchanged). */
export async function recordOutcomes(
  db: Db,
  workerId: string,
  outcomes: readonly Outcome[],
): Promise<string[]> {
  if (outcomes.length === 0) return [];
  for (const o of outcomes) {
    if (!canTransition("sending", o.status)) {
      throw new Error(`dispatcher produced an illegal move sending → ${o.status}`);
    }
    switch (o.status) {
      case "queued":
        if (!o.runAt) throw new Error("a queued outcome needs runAt");
        break;
      case "sent":
      case "delivered":
      case "undelivered":
      case "failed":
      case "expired":
      case "suppressed":
        break;
      default:
        assertNever(o.status);
    }
  }
  const calls = outcomes.filter((o) => o.attempt !== undefined);
  const a = (f: (o: Outcome & { attempt: NonNullable<Outcome["attempt"]> }) => unknown) =>
    calls.map((o) => f(o as Outcome & { attempt: NonNullable<Outcome["attempt"]> }));
  const rows = await db.query<{ id: string }>(RECORD, [
    workerId,
    outcomes.map((o) => o.messageId),
    outcomes.map((o) => o.status),
    outcomes.map((o) => o.runAt?.toISOString() ?? null),
    outcomes.map((o) => o.providerMessageId ?? null),
    outcomes.map((o) => o.error?.code ?? null),
    outcomes.map((o) => o.error?.message ?? null),
    outcomes.map((o) => o.error?.class ?? null),
    TERMINAL_STATUSES,
    a((o) => o.messageId),
    a((o) => o.attempt.number),
    a((o) => o.attempt.provider),
    a((o) => o.attempt.account),
    a((o) => o.attempt.outcome),
    a((o) => o.providerMessageId ?? null),
    a((o) => o.attempt.providerStatus),
    a((o) => o.attempt.httpStatus),
    a((o) => (o.attempt.outcome === "failed" ? (o.error?.code ?? null) : null)),
    a((o) => (o.attempt.outcome === "failed" ? (o.error?.message ?? null) : null)),
    a((o) => (o.attempt.outcome === "failed" ? (o.error?.class ?? null) : null)),
    a((o) => o.attempt.startedAt.toISOString()),
    a((o) => o.attempt.finishedAt.toISOString()),
    outcomes.map((o) => (o.free ? 1 : 0)),
    outcomes.map((o) => o.inDoubt ?? null),
    outcomes.map((o) => o.error?.rule ?? null),
    outcomes.map((o) => o.routeStep ?? null),
    outcomes.map((o) => o.stepFailures ?? null),
  ]);
  const kept = new Set(rows.map((r) => r.id));
  return outcomes.map((o) => o.messageId).filter((id) => !kept.has(id));
}

/** Moves scheduled messages whose time has come into the queue; returns how many. */
export async function promoteScheduled(db: Db, limit: number): Promise<number> {
  const rows = await db.query(
    `with due as (
       select id from smsq.messages
       where status = 'scheduled' and run_at <= now()
       order by run_at limit $1
       for update skip locked
     ), upd as (
       update smsq.messages m set status = 'queued', updated_at = now()
       from due where m.id = due.id
       returning m.id
     )
     insert into smsq.message_events (message_id, type, from_status, to_status, source)
     select id, 'status', 'scheduled', 'queued', 'dispatcher' from upd
     returning message_id`,
    [limit],
  );
  return rows.length;
}

/**
 * Ends waiting messages whose validity ran out as `expired`; returns how many. A message in
 * doubt (its last attempt may have reached the provider: a timeout, a 5xx, a worker that died
 * mid-call) ends `failed` with the code `in_doubt` instead, as the policy does when its retry
 * would fall after its validity: it may have been sent, and `expired` would say it was not.
 */
export async function expireOverdue(db: Db, limit: number): Promise<number> {
  // The status list matches the partial index messages_validity_idx's predicate.
  const rows = await db.query(
    `with due as (
       select id, status from smsq.messages
       where status in ('scheduled', 'queued') and valid_until is not null
         and valid_until <= now()
       limit $1
       for update skip locked
     ), upd as (
       update smsq.messages m
       set status = case when m.in_doubt then 'failed' else 'expired' end,
           completed_at = now(), updated_at = now(),
           last_error_code = case when m.in_doubt then 'in_doubt'
                                  else coalesce(m.last_error_code, 'expired') end,
           last_error_message = case
             when m.in_doubt then 'its validity ran out while its last attempt was in doubt: it may have been sent'
             else coalesce(m.last_error_message, 'its validity ran out before it could be sent') end,
           last_error_class = case when m.in_doubt then 'ambiguous' else m.last_error_class end
       from due where m.id = due.id
       returning m.id, m.status, due.status as prev
     )
     insert into smsq.message_events (message_id, type, from_status, to_status, source)
     select id, 'status', prev, status, 'dispatcher' from upd
     returning message_id`,
    [limit],
  );
  return rows.length;
}

/**
 * Takes back messages whose worker died mid-call (lease ran out while `sending`): each gets an
 * `abandoned` attempt row, since the call may or may not have reached the provider, and goes
 * back to the queue, or ends `failed` when it has used its attempts.
 */
export async function reapExpiredLeases(
  db: Db,
  limit: number,
  maxAttempts: number,
): Promise<number> {
  const rows = await db.query(
    `with dead as (
       select id, lease_owner, lease_expires_at from smsq.messages
       where status = 'sending' and lease_expires_at < now()
       limit $1
       for update skip locked
     ), upd as (
       update smsq.messages m
       set status = case when m.attempts - m.budget_base - m.free_attempts >= $2
                         then 'failed' else 'queued' end,
           run_at = now(), lease_owner = null, lease_expires_at = null, updated_at = now(),
           completed_at = case when m.attempts - m.budget_base - m.free_attempts >= $2
                               then now() else null end,
           last_error_code = 'lease_expired',
           last_error_message = 'the worker sending it stopped before recording the outcome',
           last_error_class = 'ambiguous', in_doubt = true
       from dead where m.id = dead.id
       returning m.id, m.attempts, m.status, m.provider, m.account, dead.lease_owner,
                 dead.lease_expires_at
     ), att as (
       insert into smsq.attempts (message_id, attempt, provider, account, worker_id, outcome,
                                  error_code, error_message, error_class, started_at,
                                  finished_at)
       select id, attempts, coalesce(provider, 'unknown'), coalesce(account, 'unknown'),
              lease_owner, 'abandoned', 'lease_expired',
              'the worker stopped before recording the outcome', 'ambiguous',
              lease_expires_at, now()
       from upd
     )
     insert into smsq.message_events (message_id, type, from_status, to_status, source, detail)
     select id, 'lease_expired', 'sending', status, 'dispatcher',
            jsonb_build_object('worker', lease_owner)
     from upd
     returning message_id`,
    [limit, maxAttempts],
  );
  return rows.length;
}
