/** Submitting, reading, listing and canceling messages. */
import { SmsqError } from "../errors.js";
import { fromStates, type MessageStatus } from "../messages/lifecycle.js";
import { lowestIdAt } from "../messages/ids.js";
import type { Message, MessageDetail } from "../messages/schemas.js";
import type { NewMessage } from "../messages/validate.js";
import type { Db, Queryable } from "./db.js";
import {
  toAttempt,
  toEvent,
  toMessage,
  type AttemptRow,
  type EventRow,
  type MessageRow,
} from "./rows.js";

/** One message to store, with its idempotency key if the caller gave one. */
export interface Submission {
  message: NewMessage;
  idempotencyKey?: string;
  /** Hash of the request payload, to tell a replay (same) from a misuse (different). */
  requestHash?: string;
}

export type SubmitResult =
  | { kind: "created"; message: Message }
  | { kind: "replayed"; message: Message }
  | { kind: "conflict"; key: string };

// Insert a batch of messages in one statement (unnest keeps it one round trip for up to 1,000
// rows), with their `created` events.
const INSERT_MESSAGES = `
  with input as (
    select * from unnest(
      $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[],
      $9::smallint[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[],
      $14::text[], $15::timestamptz[], $16::boolean[]
    ) as t(id, to_number, from_number, body, segments, encoding, priority, lane, status,
           send_at, valid_until, run_at, metadata, estimated_send_at, deadline_at_risk)
  ), inserted as (
    insert into smsq.messages (id, api_key_id, to_number, from_number, body, segments, encoding,
                               priority, lane, status, send_at, valid_until, run_at, metadata,
                               estimated_send_at, deadline_at_risk)
    select id, $1, to_number, from_number, body, segments, encoding, priority, lane, status,
           send_at, valid_until, run_at, metadata::jsonb, estimated_send_at, deadline_at_risk
    from input
    returning *
  ), events as (
    insert into smsq.message_events (message_id, type, to_status, source)
    select id, 'created', status, 'api' from inserted
  )
  select * from inserted`;

async function insertMessages(
  tx: Queryable,
  apiKeyId: string,
  msgs: NewMessage[],
): Promise<Map<string, Message>> {
  if (msgs.length === 0) return new Map();
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  const rows = await tx.query<MessageRow>(INSERT_MESSAGES, [
    apiKeyId,
    msgs.map((m) => m.id),
    msgs.map((m) => m.to),
    msgs.map((m) => m.from),
    msgs.map((m) => m.body),
    msgs.map((m) => m.segments),
    msgs.map((m) => m.encoding),
    msgs.map((m) => m.priority),
    msgs.map((m) => m.lane),
    msgs.map((m) => m.status),
    msgs.map((m) => iso(m.sendAt)),
    msgs.map((m) => iso(m.validUntil)),
    msgs.map((m) => iso(m.runAt)),
    msgs.map((m) => (m.metadata === null ? null : JSON.stringify(m.metadata))),
    msgs.map((m) => iso(m.estimatedSendAt ?? null)),
    msgs.map((m) => m.deadlineAtRisk ?? false),
  ]);
  return new Map(rows.map((r) => [r.id, toMessage(r)]));
}

/**
 * Stores submissions in one transaction. A submission whose idempotency key was seen before
 * (for this API key) returns the original message when the payload matches, and a conflict
 * when it does not; nothing new is stored for either.
 */
export async function submitMessages(
  db: Db,
  apiKeyId: string,
  subs: Submission[],
): Promise<SubmitResult[]> {
  return db.transaction(async (tx) => {
    const keyed = subs.filter((s) => s.idempotencyKey !== undefined);
    // Claim the keys first: a key another request holds makes this insert wait for it to
    // commit, then do nothing, so two racing requests with one key store one message.
    const fresh = new Set<string>();
    if (keyed.length > 0) {
      const claimed = await tx.query<{ key: string }>(
        `insert into smsq.idempotency_keys (api_key_id, key, request_hash, message_id)
         select $1, k, h, m from unnest($2::text[], $3::text[], $4::text[]) as t(k, h, m)
         on conflict do nothing
         returning key`,
        [
          apiKeyId,
          keyed.map((s) => s.idempotencyKey),
          keyed.map((s) => s.requestHash ?? ""),
          keyed.map((s) => s.message.id),
        ],
      );
      for (const r of claimed) fresh.add(r.key);
    }
    const seen = new Map<string, { request_hash: string; message_id: string }>();
    const stale = keyed.map((s) => s.idempotencyKey as string).filter((k) => !fresh.has(k));
    if (stale.length > 0) {
      const rows = await tx.query<{ key: string; request_hash: string; message_id: string }>(
        `select key, request_hash, message_id from smsq.idempotency_keys
         where api_key_id = $1 and key = any($2::text[])`,
        [apiKeyId, stale],
      );
      for (const r of rows) seen.set(r.key, r);
    }

    const toInsert = subs.filter(
      (s) => s.idempotencyKey === undefined || fresh.has(s.idempotencyKey),
    );
    const created = await insertMessages(
      tx,
      apiKeyId,
      toInsert.map((s) => s.message),
    );
    const replayIds = [...seen.values()].map((r) => r.message_id);
    const replays = new Map<string, Message>();
    if (replayIds.length > 0) {
      const rows = await tx.query<MessageRow>(
        "select * from smsq.messages where id = any($1::text[])",
        [replayIds],
      );
      for (const r of rows) replays.set(r.id, toMessage(r));
    }

    return subs.map((s): SubmitResult => {
      const key = s.idempotencyKey;
      if (key === undefined || fresh.has(key)) {
        const m = created.get(s.message.id);
        if (!m) throw new Error(`message ${s.message.id} was not inserted`);
        return { kind: "created", message: m };
      }
      const prior = seen.get(key);
      const m = prior ? replays.get(prior.message_id) : undefined;
      if (!prior || !m || prior.request_hash !== (s.requestHash ?? "")) {
        return { kind: "conflict", key };
      }
      return { kind: "replayed", message: m };
    });
  });
}

/** One message with its attempts and events, or null. */
export async function getMessage(db: Db, id: string): Promise<MessageDetail | null> {
  const rows = await db.query<MessageRow>("select * from smsq.messages where id = $1", [id]);
  const row = rows[0];
  if (!row) return null;
  const attempts = await db.query<AttemptRow>(
    "select * from smsq.attempts where message_id = $1 order by id",
    [id],
  );
  const events = await db.query<EventRow>(
    "select * from smsq.message_events where message_id = $1 order by id",
    [id],
  );
  return { ...toMessage(row), attempts: attempts.map(toAttempt), events: events.map(toEvent) };
}

export interface ListFilter {
  statuses?: MessageStatus[];
  to?: string;
  since?: Date;
  /** List messages with ids below this one (the previous page's last id). */
  beforeId?: string;
  limit: number;
}

/** Messages newest first, filtered; fetches one extra row to know whether a next page exists. */
export async function listMessages(
  db: Db,
  f: ListFilter,
): Promise<{ data: Message[]; nextId: string | null }> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, value: unknown) => {
    params.push(value);
    where.push(clause.replace("?", `$${params.length}`));
  };
  if (f.statuses && f.statuses.length > 0) add("status = any(?::text[])", f.statuses);
  if (f.to) add("to_number = ?", f.to);
  // Ids begin with their creation time, so `since` is an id bound and uses the primary key.
  if (f.since) add("id >= ?", lowestIdAt(f.since.getTime()));
  if (f.beforeId) add("id < ?", f.beforeId);
  params.push(f.limit + 1);
  const sql = `select * from smsq.messages
    ${where.length > 0 ? "where " + where.join(" and ") : ""}
    order by id desc limit $${params.length}`;
  const rows = await db.query<MessageRow>(sql, params);
  const page = rows.slice(0, f.limit);
  return {
    data: page.map(toMessage),
    nextId: rows.length > f.limit ? (page.at(-1)?.id ?? null) : null,
  };
}

/** Cancels a message that has not been handed to a provider yet. */
export async function cancelMessage(db: Db, id: string): Promise<Message> {
  return db.transaction(async (tx) => {
    const rows = await tx.query<MessageRow & { prev_status: string }>(
      `with prev as (select id, status from smsq.messages where id = $1 for update)
       update smsq.messages m
       set status = 'canceled', completed_at = now(), updated_at = now()
       from prev
       where m.id = prev.id and prev.status = any($2::text[])
       returning m.*, prev.status as prev_status`,
      [id, fromStates("canceled")],
    );
    const row = rows[0];
    if (row) {
      await tx.query(
        `insert into smsq.message_events (message_id, type, from_status, to_status, source)
         values ($1, 'status', $2, 'canceled', 'api')`,
        [id, row.prev_status],
      );
      return toMessage(row);
    }
    const cur = await tx.query<{ status: string }>(
      "select status from smsq.messages where id = $1",
      [id],
    );
    if (!cur[0]) throw new SmsqError("not_found", `no message ${id}`, "id");
    throw new SmsqError(
      "invalid_state",
      `message ${id} is ${cur[0].status} and can no longer be canceled`,
      "id",
    );
  });
}
