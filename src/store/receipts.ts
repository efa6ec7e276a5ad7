/**
 * Applying delivery receipts. Idempotent (a receipt's dedupe key makes a repeat one event),
 * order-free (the lifecycle decides whether a receipt may move the message; a late `sent`
 * after `delivered` is recorded as an event and changes nothing). A receipt for a provider id
 * not recorded yet is held in `pending_receipts` and applied when the id is recorded.
 */
import {
  receiptCanMove,
  STATUSES,
  TERMINAL_STATUSES,
  type MessageStatus,
} from "../messages/lifecycle.js";
import type { Db, Queryable } from "./db.js";

export interface Receipt {
  provider: string;
  providerMessageId: string;
  /** The lifecycle status the receipt reports. */
  status: Extract<MessageStatus, "sent" | "delivered" | "undelivered" | "failed">;
  /** The provider's own status word (e.g. Twilio's `delivered`). */
  providerStatus: string;
  errorCode?: string | null;
  errorMessage?: string | null;
  errorClass?: string | null;
  /** Same key, same receipt: (provider, id, provider status) unless the provider gives one. */
  dedupeKey: string;
  /** The recipient opted out (e.g. Twilio 30004): add them to the suppression list. */
  optOut?: boolean;
}

export interface ReceiptResult {
  /** Receipts that moved a message. */
  applied: number;
  /** Receipts seen before. */
  duplicates: number;
  /** New receipts recorded that the lifecycle did not let move the message (late or stale). */
  ignored: number;
  /** Receipts whose provider id is not (yet) known; held in pending_receipts. */
  unmatched: Receipt[];
}

/**
 * Applies the held receipts of provider ids just recorded (called after each dispatcher
 * record). One indexed lookup; usually it finds nothing. Returns how many were applied.
 */
export async function applyHeldReceipts(
  db: Db,
  provider: string,
  providerMessageIds: readonly string[],
): Promise<number> {
  if (providerMessageIds.length === 0) return 0;
  const exists = await db.query(
    `select 1 from smsq.pending_receipts
     where provider = $1 and provider_message_id = any($2::text[]) limit 1`,
    [provider, providerMessageIds],
  );
  if (exists.length === 0) return 0;
  return db.transaction(async (tx) => {
    // Oldest first, as they arrived.
    const rows = await tx.query<{ receipt: Receipt }>(
      `with d as (
         delete from smsq.pending_receipts
         where provider = $1 and provider_message_id = any($2::text[])
         returning receipt, received_at
       )
       select receipt from d order by received_at`,
      [provider, providerMessageIds],
    );
    const result = await applyReceipts(
      tx,
      rows.map((r) => r.receipt),
    );
    return result.applied + result.ignored;
  });
}

/**
 * Applies held receipts whose provider id has been recorded since (a safety net for the fast
 * path in the dispatcher, e.g. after an outage between the record and that call).
 */
export async function applyRecordedHeldReceipts(db: Db, limit: number): Promise<number> {
  return db.transaction(async (tx) => {
    const rows = await tx.query<{ receipt: Receipt }>(
      `with d as (
         delete from smsq.pending_receipts p
         where p.dedupe_key in (
           select h.dedupe_key from smsq.pending_receipts h
           join smsq.messages m
             on m.provider = h.provider and m.provider_message_id = h.provider_message_id
           order by h.received_at
           limit $1
         )
         returning p.receipt, p.received_at
       )
       select receipt from d order by received_at`,
      [limit],
    );
    if (rows.length === 0) return 0;
    const result = await applyReceipts(
      tx,
      rows.map((r) => r.receipt),
    );
    return result.applied + result.ignored;
  });
}

/** Drops held receipts older than `maxAgeMs` whose id never became known; returns how many. */
export async function sweepHeldReceipts(db: Db, maxAgeMs: number): Promise<number> {
  const rows = await db.query(
    `delete from smsq.pending_receipts
     where received_at < now() - $1 * interval '1 millisecond'
     returning dedupe_key`,
    [maxAgeMs],
  );
  return rows.length;
}

const RECEIPT_STATUSES: readonly Receipt["status"][] = [
  "sent",
  "delivered",
  "undelivered",
  "failed",
];

// The moves a receipt may make, as "from>to" (from the lifecycle, so the SQL below follows it).
const RECEIPT_MOVES = STATUSES.flatMap((from) =>
  RECEIPT_STATUSES.filter((to) => receiptCanMove(from, to)).map((to) => `${from}>${to}`),
);
// The statement below moves a message at most once per batch: the first receipt allowed to.
// That is exact only while no status a receipt moves to can be moved on by another receipt.
for (const move of RECEIPT_MOVES) {
  const to = move.split(">")[1] as MessageStatus;
  if (RECEIPT_STATUSES.some((next) => receiptCanMove(to, next))) {
    throw new Error(`receipts may move a message twice (${move} and on): applyReceipts must chain`);
  }
}

// One statement for a whole batch, in the order given: a dedupe key's first receipt in the
// batch counts, later ones are duplicates; a key already recorded is a duplicate; each
// message moves with its first new receipt the lifecycle allows (RECEIPT_MOVES); every new
// matched receipt becomes an event; unknown ids are held. Messages are locked in id order
// (as every multi-row writer does, so two batches cannot deadlock) before they are read.
const APPLY = `
  with r as (
    select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $9::boolean[], $10::jsonb[])
      with ordinality as r(provider, pid, status, pstatus, code, msg, class, key, opt_out, body,
                           ord)
  ), u as (
    select distinct on (key) * from r order by key, ord
  ), m as (
    select m.id, m.status, m.provider, m.provider_message_id, m.to_number
    from smsq.messages m
    join (select distinct provider, pid from u) k
      on m.provider = k.provider and m.provider_message_id = k.pid
    order by m.id
    for update of m
  ), e as (
    select u.*, m.id as message_id, m.status as initial, m.to_number,
           exists (select 1 from smsq.message_events x where x.dedupe_key = u.key) as seen
    from u join m on m.provider = u.provider and m.provider_message_id = u.pid
  ), mv as (
    select distinct on (message_id) message_id, key, status, code, msg, class, initial
    from e
    where not seen and initial || '>' || status = any($11::text[])
    order by message_id, ord
  ), ev as (
    insert into smsq.message_events (message_id, type, from_status, to_status, source,
                                     dedupe_key, detail)
    select e.message_id, 'receipt', mv.initial, mv.status, 'receipt', e.key,
           jsonb_build_object('providerStatus', e.pstatus, 'errorCode', e.code)
    from e left join mv on mv.key = e.key
    where not e.seen
    order by e.ord
    on conflict (dedupe_key) where dedupe_key is not null do nothing
    returning dedupe_key
  ), moves as (
    -- A move whose event another writer recorded first (a race on the same receipt) is theirs.
    select mv.* from mv join ev on ev.dedupe_key = mv.key
  ), upd as (
    update smsq.messages m
    set status = v.status,
        last_error_code = coalesce(v.code, m.last_error_code),
        last_error_message = coalesce(v.msg, m.last_error_message),
        last_error_class = coalesce(v.class, m.last_error_class),
        completed_at = case when v.status = any($12::text[]) then now() else m.completed_at end,
        updated_at = now()
    from moves v
    where m.id = v.message_id and m.status = v.initial
    returning m.id
  ), sup as (
    insert into smsq.suppressions (phone, reason, source)
    select distinct on (e.to_number) e.to_number,
           e.provider || ' ' || coalesce(e.code, e.pstatus), 'receipt'
    from e join ev on ev.dedupe_key = e.key
    where e.opt_out
    order by e.to_number, e.ord
    on conflict (phone) do nothing
  ), um as (
    select u.* from u
    where not exists (select 1 from m where m.provider = u.provider and m.provider_message_id = u.pid)
  ), held as (
    insert into smsq.pending_receipts (dedupe_key, provider, provider_message_id, receipt)
    select key, provider, pid, body from um
    on conflict (dedupe_key) do nothing
  )
  select (select count(*) from r)::int as received,
         (select count(*) from u)::int as distinct_keys,
         (select count(*) from e)::int as matched,
         (select count(*) from ev)::int as recorded,
         -- The rows are locked above, so every move updates its row; if one ever did not,
         -- this fails the statement (a non-numeric cast) rather than leave an event that lies.
         case when (select count(*) from upd) = (select count(*) from moves)
              then (select count(*) from upd)::int
              else ('a receipt update lost its row: ' || (select count(*) from upd))::int
         end as applied,
         (select coalesce(array_agg(ord::int order by ord), '{}') from um) as unmatched`;

/**
 * Applies a batch of receipts in one statement (one round trip, atomic); holds those whose id
 * is not known yet. The result is the one applying them one by one in order would give.
 */
export async function applyReceipts(
  q: Queryable,
  receipts: readonly Receipt[],
): Promise<ReceiptResult> {
  if (receipts.length === 0) return { applied: 0, duplicates: 0, ignored: 0, unmatched: [] };
  const rows = await q.query<{
    received: number;
    distinct_keys: number;
    matched: number;
    recorded: number;
    applied: number;
    unmatched: number[];
  }>(APPLY, [
    receipts.map((r) => r.provider),
    receipts.map((r) => r.providerMessageId),
    receipts.map((r) => r.status),
    receipts.map((r) => r.providerStatus),
    receipts.map((r) => r.errorCode ?? null),
    receipts.map((r) => r.errorMessage ?? null),
    receipts.map((r) => r.errorClass ?? null),
    receipts.map((r) => r.dedupeKey),
    receipts.map((r) => r.optOut === true),
    receipts.map((r) => JSON.stringify(r)),
    RECEIPT_MOVES,
    TERMINAL_STATUSES,
  ]);
  const row = rows[0];
  if (!row) throw new Error("applying receipts returned no row");
  return {
    applied: row.applied,
    // Repeats within the batch, and matched receipts whose key was recorded before.
    duplicates: row.received - row.distinct_keys + (row.matched - row.recorded),
    ignored: row.recorded - row.applied,
    unmatched: row.unmatched.map((ord) => receipts[ord - 1] as Receipt),
  };
}
