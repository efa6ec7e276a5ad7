/**
 * Dead letters: an operator puts messages that ended `failed` (or `expired`, `undelivered`)
 * back in the queue. Which statuses may be requeued is the lifecycle module's decision
 * (`requeueableStates()`). A requeued message keeps its history (attempts, events, last error)
 * and gets a fresh attempt budget: `attempts` keeps counting every provider call, and
 * `budget_base` (migration 0003) records how many were made before the requeue.
 */
import { SmsqError } from "../errors.js";
import { requeueableStates, type MessageStatus } from "../messages/lifecycle.js";
import type { Message } from "../messages/schemas.js";
import type { Db, Queryable } from "./db.js";
import { toMessage, type MessageRow } from "./rows.js";

export interface RequeueFilter {
  ids?: string[];
  /** Default `["failed"]`; each must be in `requeueableStates()`. */
  statuses?: MessageStatus[];
  /** Matches `last_error_code`. */
  errorCodes?: string[];
  /** Matches `last_error_class`. */
  errorClasses?: string[];
  /** On `completed_at`: at or after `since`, before `until`. */
  since?: Date;
  until?: Date;
  /** Default 1,000, at most 10,000. */
  limit?: number;
}

export interface RequeueOptions {
  dryRun: boolean;
  /** Who asked, recorded in each event's detail. */
  source: "api" | "cli";
}

export interface RequeueResult {
  matched: number;
  requeued: number;
  ids: string[];
}

export const DEFAULT_REQUEUE_LIMIT = 1000;
export const MAX_REQUEUE_LIMIT = 10_000;

// A requeue gives the message a fresh attempt budget: the budget counts attempts made since
// budget_base, less free ones (counted again from zero). in_doubt is kept: a message whose last
// attempt may have reached the provider is still reconciled before it is sent again.
const REQUEUE = `
    with v as (select * from unnest($1::text[], $2::text[]) as t(id, prev))
    update smsq.messages m
    set status = 'queued', run_at = now(), completed_at = null,
        lease_owner = null, lease_expires_at = null,
        budget_base = m.attempts, free_attempts = 0, updated_at = now()
    from v
    where m.id = v.id and m.status = v.prev
    returning m.*`;

const INSERT_EVENTS = `
  insert into smsq.message_events (message_id, type, from_status, to_status, source, detail)
  select id, 'requeued', prev, 'queued', 'operator', $3::jsonb
  from unnest($1::text[], $2::text[]) as t(id, prev)`;

/** Requeues rows the caller has locked; returns the updated rows. */
async function requeueLocked(
  tx: Queryable,
  rows: readonly { id: string; status: MessageStatus }[],
  source: RequeueOptions["source"],
): Promise<MessageRow[]> {
  if (rows.length === 0) return [];
  const updated = await tx.query<MessageRow>(REQUEUE, [
    rows.map((r) => r.id),
    rows.map((r) => r.status),
  ]);
  const prev = new Map(rows.map((r) => [r.id, r.status]));
  await tx.query(INSERT_EVENTS, [
    updated.map((r) => r.id),
    updated.map((r) => prev.get(r.id)),
    JSON.stringify({ source }),
  ]);
  return updated;
}

/** The filter's statuses and limit, checked; throws invalid_request naming the field. */
function normalise(f: RequeueFilter): { statuses: MessageStatus[]; limit: number } {
  const allowed = requeueableStates();
  const statuses = f.statuses ?? ["failed"];
  if (statuses.length === 0) {
    throw new SmsqError("invalid_request", "statuses must hold at least one status", "statuses");
  }
  for (const s of statuses) {
    if (!allowed.includes(s)) {
      throw new SmsqError(
        "invalid_request",
        `status "${s}" cannot be requeued; only ${allowed.join(", ")} can`,
        "statuses",
      );
    }
  }
  const limit = f.limit ?? DEFAULT_REQUEUE_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_REQUEUE_LIMIT) {
    throw new SmsqError(
      "invalid_request",
      `limit must be an integer from 1 to ${MAX_REQUEUE_LIMIT}`,
      "limit",
    );
  }
  for (const [field, d] of [
    ["since", f.since],
    ["until", f.until],
  ] as const) {
    if (d !== undefined && Number.isNaN(d.getTime())) {
      throw new SmsqError("invalid_date", `${field} is not a valid time`, field);
    }
  }
  if (f.since && f.until && f.until.getTime() <= f.since.getTime()) {
    throw new SmsqError("invalid_request", "until must be after since", "until");
  }
  return { statuses, limit };
}

/**
 * Puts matching dead letters back in the queue, in one transaction: selects them
 * `for update skip locked` (rows another transaction holds are left for later), then, unless
 * `dryRun`, moves them to `queued` (due now, fresh attempt budget) with a `requeued` event each.
 * Messages whose `validUntil` has passed are never matched: they would only expire again.
 */
export async function requeueMessages(
  db: Db,
  f: RequeueFilter,
  opts: RequeueOptions,
): Promise<RequeueResult> {
  const { statuses, limit } = normalise(f);
  if (f.ids !== undefined && f.ids.length === 0) return { matched: 0, requeued: 0, ids: [] };

  const where: string[] = [
    "status = any($1::text[])",
    "(valid_until is null or valid_until > now())",
    // Retention replaced its body (docs/retention.md): there is nothing left to send.
    "body_redacted_at is null",
  ];
  const params: unknown[] = [statuses];
  const add = (clause: string, value: unknown) => {
    params.push(value);
    where.push(clause.replace("?", `$${params.length}`));
  };
  if (f.ids) add("id = any(?::text[])", f.ids);
  if (f.errorCodes) add("last_error_code = any(?::text[])", f.errorCodes);
  if (f.errorClasses) add("last_error_class = any(?::text[])", f.errorClasses);
  if (f.since) add("completed_at >= ?::timestamptz", f.since.toISOString());
  if (f.until) add("completed_at < ?::timestamptz", f.until.toISOString());
  params.push(limit);
  const select = `select id, status from smsq.messages
    where ${where.join(" and ")}
    order by id
    limit $${params.length}
    for update skip locked`;

  return db.transaction(async (tx) => {
    const rows = await tx.query<{ id: string; status: MessageStatus }>(select, params);
    if (opts.dryRun) return { matched: rows.length, requeued: 0, ids: rows.map((r) => r.id) };
    const updated = await requeueLocked(tx, rows, opts.source);
    const done = new Set(updated.map((r) => r.id));
    return {
      matched: rows.length,
      requeued: updated.length,
      ids: rows.map((r) => r.id).filter((id) => done.has(id)),
    };
  });
}

/**
 * Requeues one message (any requeueable status) and returns it. Throws not_found for an unknown
 * id and invalid_state when its status does not allow a requeue or its validity has passed.
 */
export async function retryMessage(
  db: Db,
  id: string,
  source: RequeueOptions["source"],
): Promise<Message> {
  return db.transaction(async (tx) => {
    const rows = await tx.query<{ status: MessageStatus; lapsed: boolean; redacted: boolean }>(
      `select status, coalesce(valid_until <= now(), false) as lapsed,
              body_redacted_at is not null as redacted
       from smsq.messages where id = $1 for update`,
      [id],
    );
    const cur = rows[0];
    if (!cur) throw new SmsqError("not_found", `no message ${id}`, "id");
    const allowed = requeueableStates();
    if (!allowed.includes(cur.status)) {
      throw new SmsqError(
        "invalid_state",
        `message ${id} is ${cur.status}; only ${allowed.join(", ")} messages can be requeued`,
        "id",
      );
    }
    if (cur.lapsed) {
      throw new SmsqError(
        "invalid_state",
        `message ${id} is past its validUntil and cannot be sent any more`,
        "id",
      );
    }
    if (cur.redacted) {
      throw new SmsqError(
        "invalid_state",
        `message ${id} is too old to send again: retention has removed its body`,
        "id",
      );
    }
    const [row] = await requeueLocked(tx, [{ id, status: cur.status }], source);
    if (!row) throw new Error(`message ${id} was not requeued`);
    return toMessage(row);
  });
}
