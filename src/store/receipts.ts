/**
 * Applying delivery receipts. Idempotent (a receipt's dedupe key makes a repeat one event),
 * order-free (the lifecycle decides whether a receipt may move the message; a late `sent`
 * after `delivered` is recorded as an event and changes nothing).
 */
import { canTransition, TERMINAL_STATUSES, type MessageStatus } from "../messages/lifecycle.js";
import type { Db } from "./db.js";

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
}

export interface ReceiptResult {
  /** Receipts that moved a message. */
  applied: number;
  /** Receipts seen before. */
  duplicates: number;
  /** New receipts recorded that the lifecycle did not let move the message (late or stale). */
  ignored: number;
  /** Receipts whose provider id is not (yet) known. */
  unmatched: Receipt[];
}

/** Applies a batch of receipts in one transaction. */
export async function applyReceipts(db: Db, receipts: readonly Receipt[]): Promise<ReceiptResult> {
  const result: ReceiptResult = { applied: 0, duplicates: 0, ignored: 0, unmatched: [] };
  if (receipts.length === 0) return result;
  return db.transaction(async (tx) => {
    const found = await tx.query<{
      id: string;
      status: MessageStatus;
      provider: string;
      provider_message_id: string;
    }>(
      `select m.id, m.status, m.provider, m.provider_message_id
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
    const events: { id: string; r: Receipt; from: MessageStatus; moves: boolean }[] = [];
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
      const moves = from !== r.status && canTransition(from, r.status);
      events.push({ id: m.id, r, from, moves });
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
  });
}
