/**
 * Retention: redact old message bodies, delete old attempts and events and, when asked, old
 * final messages. Every step is a short statement over at most `batchSize` rows, found through
 * an index and locked `FOR UPDATE SKIP LOCKED`, so cleanup never holds a lock for long nor waits
 * on the dispatcher's rows; a run stops after `maxMs` and the next one goes on. Non-final
 * messages are never deleted, and a body is redacted only once the message is done with it
 * (a final status, or `sent`: accepted by the provider). See docs/retention.md.
 */
import { TERMINAL_STATUSES } from "../messages/lifecycle.js";
import type { Db } from "./db.js";

const DAY_MS = 86_400_000;

export interface RetentionSettings {
  /** Redact bodies this many days after the message was done with them; 0 keeps them. */
  bodiesDays: number;
  /** Delete attempts and events older than this many days; 0 keeps them. */
  historyDays: number;
  /** Delete final messages (with their attempts, events, keys) this many days after; 0 keeps. */
  messagesDays: number;
}

export const DEFAULT_RETENTION: RetentionSettings = {
  bodiesDays: 30,
  historyDays: 90,
  messagesDays: 0,
};

export interface Cutoffs {
  bodies: Date | null;
  history: Date | null;
  messages: Date | null;
}

export interface CleanupCounts {
  /** Bodies replaced by ''. */
  bodies: number;
  attempts: number;
  events: number;
  messages: number;
  idempotencyKeys: number;
}

export interface CleanupResult extends CleanupCounts {
  cutoffs: Cutoffs;
  /** Statements run (each touching at most `batchSize` rows of its table). */
  batches: number;
  /** False when the run stopped at `maxMs` (or was stopped) with work left for the next one. */
  complete: boolean;
  ms: number;
}

export interface CleanupOptions {
  /** Rows per statement (default 1,000). */
  batchSize?: number;
  /** Stop starting new batches after this long (default 60 s). */
  maxMs?: number;
  /** Pause between batches, to leave the store to the dispatcher (default 0). */
  pauseMs?: number;
  /** The cutoffs are counted back from here (default: the database's clock). */
  now?: Date;
  /** Asked between batches: true stops the run. */
  stopped?: () => boolean;
  /** Called after each statement with its step and the rows it touched (tests, logs). */
  onBatch?: (step: CleanupStep, rows: number) => void;
}

export type CleanupStep = "messages" | "bodies" | "attempts" | "events";

const FINAL = TERMINAL_STATUSES;
// Statuses whose body is no longer needed: final ones, and `sent` (accepted by the provider).
// Written out, not parameters, so the planner matches messages_redact_idx's predicate.
const DONE_LIST =
  "('sent', 'delivered', 'undelivered', 'failed', 'expired', 'canceled', 'suppressed')";
const FINAL_LIST = `(${FINAL.map((s) => `'${s}'`).join(", ")})`;
// When a message was done with its body: the expression messages_redact_idx is built on.
const DONE_AT = "coalesce(completed_at, sent_at, created_at)";

// Deletes final messages that ended before $1, with everything that refers to them. Their
// attempts and events go with them whatever their age, so nothing is left pointing nowhere.
const DELETE_MESSAGES = `
  with batch as (
    select id from smsq.messages
    where completed_at < $1::timestamptz and status in ${FINAL_LIST}
    order by completed_at
    limit $2
    for update skip locked
  ), gone as (
    delete from smsq.messages m using batch where m.id = batch.id returning m.id
  ), a as (
    delete from smsq.attempts where message_id in (select id from gone) returning 1
  ), e as (
    delete from smsq.message_events where message_id in (select id from gone) returning 1
  ), k as (
    delete from smsq.idempotency_keys where message_id in (select id from gone) returning 1
  )
  select (select count(*) from gone)::int as messages, (select count(*) from a)::int as attempts,
         (select count(*) from e)::int as events, (select count(*) from k)::int as keys`;

// messages_redact_idx holds only bodies not yet redacted: a batch reads the rows it changes.
const REDACT_BODIES = `
  with batch as (
    select id from smsq.messages
    where body_redacted_at is null and status in ${DONE_LIST} and ${DONE_AT} < $1::timestamptz
    order by ${DONE_AT}
    limit $2
    for update skip locked
  ), upd as (
    update smsq.messages m set body = '', body_redacted_at = now()
    from batch where m.id = batch.id
    returning 1
  )
  select count(*)::int as n from upd`;

const DELETE_ATTEMPTS = `
  with d as (
    delete from smsq.attempts where id in (
      select id from smsq.attempts where finished_at < $1::timestamptz
      order by finished_at limit $2 for update skip locked)
    returning 1
  )
  select count(*)::int as n from d`;

const DELETE_EVENTS = `
  with d as (
    delete from smsq.message_events where id in (
      select id from smsq.message_events where at < $1::timestamptz
      order by at limit $2 for update skip locked)
    returning 1
  )
  select count(*)::int as n from d`;

// What a run would do, counted with the same predicates (a dry run reads every row it counts,
// so it is for the command line, not for the scheduled run). Rows that go with a deleted
// message are counted once, with the message.
const PLAN = `
  with m as (
    select id from smsq.messages
    where $3::timestamptz is not null and completed_at < $3::timestamptz
      and status in ${FINAL_LIST}
  )
  select
    (select count(*) from m)::int as messages,
    (select count(*) from smsq.messages
     where $1::timestamptz is not null and body_redacted_at is null
       and status in ${DONE_LIST} and ${DONE_AT} < $1::timestamptz
       and not ($3::timestamptz is not null and completed_at < $3::timestamptz
                and status in ${FINAL_LIST}))::int as bodies,
    ((select count(*) from smsq.attempts
      where $2::timestamptz is not null and finished_at < $2::timestamptz)
     + (select count(*) from smsq.attempts a join m on m.id = a.message_id
        where not ($2::timestamptz is not null and a.finished_at < $2::timestamptz)))::int
      as attempts,
    ((select count(*) from smsq.message_events
      where $2::timestamptz is not null and at < $2::timestamptz)
     + (select count(*) from smsq.message_events e join m on m.id = e.message_id
        where not ($2::timestamptz is not null and e.at < $2::timestamptz)))::int as events,
    (select count(*) from smsq.idempotency_keys k join m on m.id = k.message_id)::int as keys`;

/** True when the settings keep everything (no retention at all). */
export function keepsEverything(s: RetentionSettings): boolean {
  return s.bodiesDays === 0 && s.historyDays === 0 && s.messagesDays === 0;
}

/** The cutoffs counted back from `now`; null where a setting keeps everything. */
export function cutoffs(s: RetentionSettings, now: Date): Cutoffs {
  const back = (days: number) => (days > 0 ? new Date(now.getTime() - days * DAY_MS) : null);
  return {
    bodies: back(s.bodiesDays),
    history: back(s.historyDays),
    messages: back(s.messagesDays),
  };
}

async function dbNow(db: Db): Promise<Date> {
  const rows = await db.query<{ now: Date }>("select now() as now");
  return new Date(rows[0]?.now ?? Date.now());
}

/** Counts what a run would redact and delete now, changing nothing (`smsq cleanup --dry-run`). */
export async function planCleanup(
  db: Db,
  s: RetentionSettings,
  opts: { now?: Date } = {},
): Promise<CleanupCounts & { cutoffs: Cutoffs }> {
  const c = cutoffs(s, opts.now ?? (await dbNow(db)));
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  const rows = await db.query<{
    messages: number;
    bodies: number;
    attempts: number;
    events: number;
    keys: number;
  }>(PLAN, [iso(c.bodies), iso(c.history), iso(c.messages)]);
  const r = rows[0];
  return {
    cutoffs: c,
    bodies: r?.bodies ?? 0,
    attempts: r?.attempts ?? 0,
    events: r?.events ?? 0,
    messages: r?.messages ?? 0,
    idempotencyKeys: r?.keys ?? 0,
  };
}

/**
 * Runs the cleanup once: old final messages (when `messagesDays` is set), then bodies, then
 * attempts, then events, each in batches until none is left or `maxMs` has passed.
 */
export async function runCleanup(
  db: Db,
  s: RetentionSettings,
  opts: CleanupOptions = {},
): Promise<CleanupResult> {
  const started = Date.now();
  const batchSize = opts.batchSize ?? 1000;
  const maxMs = opts.maxMs ?? 60_000;
  const c = cutoffs(s, opts.now ?? (await dbNow(db)));
  const out: CleanupResult = {
    cutoffs: c,
    bodies: 0,
    attempts: 0,
    events: 0,
    messages: 0,
    idempotencyKeys: 0,
    batches: 0,
    complete: true,
    ms: 0,
  };
  const outOfTime = () => Date.now() - started >= maxMs || (opts.stopped?.() ?? false);

  /** Runs one step's statement until a batch comes back short; false when out of time. */
  const drain = async (
    step: CleanupStep,
    cutoff: Date | null,
    run: (cut: string) => Promise<number>,
  ) => {
    if (cutoff === null) return true;
    for (;;) {
      if (outOfTime()) return false;
      const n = await run(cutoff.toISOString());
      out.batches += 1;
      opts.onBatch?.(step, n);
      if (n < batchSize) return true;
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  };
  const count = async (sql: string, cut: string) =>
    (await db.query<{ n: number }>(sql, [cut, batchSize]))[0]?.n ?? 0;

  out.complete =
    (await drain("messages", c.messages, async (cut) => {
      const r = (
        await db.query<{ messages: number; attempts: number; events: number; keys: number }>(
          DELETE_MESSAGES,
          [cut, batchSize],
        )
      )[0];
      out.messages += r?.messages ?? 0;
      out.attempts += r?.attempts ?? 0;
      out.events += r?.events ?? 0;
      out.idempotencyKeys += r?.keys ?? 0;
      return r?.messages ?? 0;
    })) &&
    (await drain("bodies", c.bodies, async (cut) => {
      const n = await count(REDACT_BODIES, cut);
      out.bodies += n;
      return n;
    })) &&
    (await drain("attempts", c.history, async (cut) => {
      const n = await count(DELETE_ATTEMPTS, cut);
      out.attempts += n;
      return n;
    })) &&
    (await drain("events", c.history, async (cut) => {
      const n = await count(DELETE_EVENTS, cut);
      out.events += n;
      return n;
    }));
  out.ms = Date.now() - started;
  return out;
}

/**
 * Takes the task's lease: true when no other worker holds it and the last run ended at least
 * `minIntervalMs` ago (0: whenever no one holds it). One statement, so two workers asking at
 * once cannot both win.
 */
export async function takeLease(
  db: Db,
  task: string,
  owner: string,
  leaseMs: number,
  minIntervalMs: number,
): Promise<boolean> {
  const rows = await db.query(
    `insert into smsq.maintenance as t (task, owner, lease_until)
     values ($1, $2, now() + $3 * interval '1 millisecond')
     on conflict (task) do update
     set owner = excluded.owner, lease_until = excluded.lease_until
     where (t.lease_until is null or t.lease_until < now())
       and (t.last_run_at is null or t.last_run_at <= now() - $4 * interval '1 millisecond')
     returning task`,
    [task, owner, leaseMs, minIntervalMs],
  );
  return rows.length > 0;
}

/** Ends a run: frees the lease and records when it ended and what it did. */
export async function releaseLease(
  db: Db,
  task: string,
  owner: string,
  result: unknown,
): Promise<void> {
  await db.query(
    `update smsq.maintenance
     set owner = null, lease_until = null, last_run_at = now(), last_result = $3::jsonb
     where task = $1 and owner = $2`,
    [task, owner, JSON.stringify(result)],
  );
}

/** The task's row: who holds it, until when, and the last run. */
export async function leaseState(
  db: Db,
  task: string,
): Promise<{
  owner: string | null;
  lease_until: Date | null;
  last_run_at: Date | null;
  last_result: unknown;
} | null> {
  const rows = await db.query<{
    owner: string | null;
    lease_until: Date | null;
    last_run_at: Date | null;
    last_result: unknown;
  }>(`select owner, lease_until, last_run_at, last_result from smsq.maintenance where task = $1`, [
    task,
  ]);
  return rows[0] ?? null;
}
