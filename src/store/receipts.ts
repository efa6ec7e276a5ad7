/**
 * Applying delivery receipts. Idempotent (a receipt's dedupe key makes a repeat one event),
 * order-free (the lifecycle decides whether a receipt may move the message; a late `sent`
 * after `delivered` is recorded as an event and changes nothing). A receipt for a provider id
 * not recorded yet is held in `pending_receipts` and applied when the id is recorded.
 */
import { receiptCanMove, TERMINAL_STATUSES, type MessageStatus } from "../messages/lifecycle.js";
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

/** Applies a batch of receipts in one transaction; holds those whose id is not known yet. */
export async function applyReceipts(db: Db, receipts: readonly Receipt[]): Promise<ReceiptResult> {
  if (receipts.length === 0) return { applied: 0, duplicates: 0, ignored: 0, unmatched: [] };
  return db.transaction(async (tx) => {
    const result = await applyIn(tx, receipts);
    await hold(tx, result.unmatched);
    return result;
  });
}

async function hold(tx: Queryable, receipts: readonly Receipt[]): Promise<void> {
  if (receipts.length === 0) return;
  await tx.query(
    `insert into smsq.pending_receipts (dedupe_key, provider, provider_message_id, receipt)
     select * from unnest($1::text[], $2::text[], $3::text[], $4::jsonb[])
     on conflict (dedupe_key) do nothing`,
    [
      receipts.map((r) => r.dedupeKey),
      receipts.map((r) => r.provider),
      receipts.map((r) => r.providerMessageId),
      receipts.map((r) => JSON.stringify(r)),
    ],
  );
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
    const rows = await tx.query<{ receipt: Receipt }>(
      `delete from smsq.pending_receipts
       where provider = $1 and provider_message_id = any($2::text[])
       returning receipt, received_at`,
      [provider, providerMessageIds],
    );
    // Oldest first, as they arrived.
    const result = await applyIn(
      tx,
      rows.map((r) => r.receipt),
    );
    await hold(tx, result.unmatched);
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
      `delete from smsq.pending_receipts p
       where p.dedupe_key in (
         select h.dedupe_key from smsq.pending_receipts h
         join smsq.messages m
           on m.provider = h.provider and m.provider_message_id = h.provider_message_id
         order by h.received_at
         limit $1
       )
       returning p.receipt`,
      [limit],
    );
    if (rows.length === 0) return 0;
    const result = await applyIn(
      tx,
      rows.map((r) => r.receipt),
    );
    await hold(tx, result.unmatched);
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

async function applyIn(tx: Queryable, receipts: readonly Receipt[]): Promise<ReceiptResult> {
  const result: ReceiptResult = { applied: 0, duplicates: 0, ignored: 0, unmatched: [] };
  {
    const found = await tx.query<{
      id: string;
      status: MessageStatus;
      provider: string;
      provider_message_id: string;
      to_number: string;
    }>(
      `select m.id, m.status, m.provider, m.provider_message_id, m.to_number
       from smsq.messages m
       join unnest($1::text[], $2::text[]) as r(provider, pid)
         on m.provider = r.provider and m.provider_message_id = r.pid
       order by m.id
       for update of m`,
      [receipts.map((r) => r.provider), receipts.map((r) => r.providerMessageId)],
    );
    const byPid = new Map(found.map((m) => [`${m.provider}\u0000${m.provider_message_id}`, m]));

    // Decide in order, tracking each message's status as the batch moves it.
    const initial = new Map(found.map((m) => [m.id, m.status]));
    const current = new Map(initial);
    const events: { id: string; to: string; r: Receipt; from: MessageStatus; moves: boolean }[] =
      [];
    const keys = new Set<string>();
    for (const r of receipts) {
      // The same receipt twice in one batch: the second is a duplicate of the first.
      if (keys.has(r.dedupeKey)) {
        result.duplicates += 1;
        continue;
      }
      keys.add(r.dedupeKey);
      const m = byPid.get(`${r.provider}\u0000${r.providerMessageId}`);
      if (!m) {
        result.unmatched.push(r);
        continue;
      }
      const from = current.get(m.id) as MessageStatus;
      // Only a `sent` message moves: a receipt matching a message queued or sending again is
      // an earlier send's (see receiptCanMove), recorded as an event and nothing more.
      const moves = receiptCanMove(from, r.status);
      events.push({ id: m.id, to: m.to_number, r, from, moves });
      if (moves) current.set(m.id, r.status);
    }
    if (events.length === 0) return result;

    // Record the events; a dedupe key seen before inserts nothing, and its receipt is dropped.
    const inserted = await tx.query<{ dedupe_key: string }>(
      `insert into smsq.message_events (message_id, type, from_status, to_status, source,
                                        dedupe_key, detail)
       select id, 'receipt', from_status, to_status, 'receipt', key,
              jsonb_build_object('providerStatus', pstatus, 'errorCode', code)
       from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
         as t(id, from_status, to_status, key, pstatus, code)
       on conflict (dedupe_key) where dedupe_key is not null do nothing
       returning dedupe_key`,
      [
        events.map((e) => e.id),
        events.map((e) => (e.moves ? e.from : null)),
        events.map((e) => (e.moves ? e.r.status : null)),
        events.map((e) => e.r.dedupeKey),
        events.map((e) => e.r.providerStatus),
        events.map((e) => e.r.errorCode ?? null),
      ],
    );
    const fresh = new Set(inserted.map((r) => r.dedupe_key));
    await suppressOptOuts(
      tx,
      events.filter((e) => fresh.has(e.r.dedupeKey)),
    );
    const moves: typeof events = [];
    for (const e of events) {
      if (!fresh.has(e.r.dedupeKey)) result.duplicates += 1;
      else if (e.moves) moves.push(e);
      else result.ignored += 1;
    }
    if (moves.length === 0) return result;
    // Each message's last move wins; the lifecycle already ordered them above. The guard on
    // the current status keeps this safe against anything that changed it meanwhile.
    const last = new Map(moves.map((e) => [e.id, e]));
    const updated = await tx.query<{ id: string }>(
      `update smsq.messages m
       set status = v.status,
           last_error_code = coalesce(v.code, m.last_error_code),
           last_error_message = coalesce(v.msg, m.last_error_message),
           last_error_class = coalesce(v.class, m.last_error_class),
           completed_at = case when v.status = any($7::text[]) then now() else m.completed_at end,
           updated_at = now()
       from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
         as v(id, status, code, msg, class, expected)
       where m.id = v.id and m.status = v.expected
       returning m.id`,
      [
        [...last.keys()],
        [...last.values()].map((e) => e.r.status),
        [...last.values()].map((e) => e.r.errorCode ?? null),
        [...last.values()].map((e) => e.r.errorMessage ?? null),
        [...last.values()].map((e) => e.r.errorClass ?? null),
        [...last.keys()].map((id) => initial.get(id) ?? null),
        TERMINAL_STATUSES,
      ],
    );
    result.applied = moves.length;
    if (updated.length !== last.size) {
      throw new Error("a receipt update lost its row although it was locked");
    }
    return result;
  }
}

async function suppressOptOuts(
  tx: Queryable,
  events: readonly { to: string; r: Receipt }[],
): Promise<void> {
  const optOuts = events.filter((e) => e.r.optOut);
  if (optOuts.length === 0) return;
  await tx.query(
    `insert into smsq.suppressions (phone, reason, source)
     select * from unnest($1::text[], $2::text[], $3::text[])
     on conflict (phone) do nothing`,
    [
      optOuts.map((e) => e.to),
      optOuts.map((e) => `${e.r.provider} ${e.r.errorCode ?? e.r.providerStatus}`),
      optOuts.map(() => "receipt"),
    ],
  );
}
