/** Conversions from database rows to the API's JSON shapes. */
import type { MessageStatus } from "../messages/lifecycle.js";
import type { Attempt, Message, MessageEvent, Priority } from "../messages/schemas.js";

export interface MessageRow {
  id: string;
  api_key_id: string;
  to_number: string;
  from_number: string | null;
  /** The pool sender the limiter chose (messages without from_number). */
  sender: string | null;
  body: string;
  segments: number;
  encoding: "GSM-7" | "UCS-2";
  priority: Priority;
  lane: number;
  status: MessageStatus;
  send_at: Date | null;
  valid_until: Date | null;
  run_at: Date;
  attempts: number;
  budget_base: number;
  free_attempts: number;
  in_doubt: boolean;
  route_step: number;
  step_failures: number;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  provider: string | null;
  account: string | null;
  provider_message_id: string | null;
  last_error_code: string | null;
  last_error_message: string | null;
  last_error_class: string | null;
  metadata: Record<string, unknown> | null;
  estimated_send_at: Date | null;
  deadline_at_risk: boolean;
  created_at: Date;
  updated_at: Date;
  sent_at: Date | null;
  completed_at: Date | null;
  [key: string]: unknown;
}

export interface AttemptRow {
  attempt: number;
  provider: string;
  account: string;
  outcome: "accepted" | "failed" | "abandoned" | "reconciled";
  provider_message_id: string | null;
  provider_status: string | null;
  http_status: number | null;
  error_code: string | null;
  error_message: string | null;
  error_class: string | null;
  started_at: Date;
  finished_at: Date;
  latency_ms: number | null;
  [key: string]: unknown;
}

export interface EventRow {
  at: Date;
  type: string;
  from_status: string | null;
  to_status: string | null;
  source: string;
  detail: Record<string, unknown> | null;
  [key: string]: unknown;
}

const iso = (d: Date | null): string | null => (d ? new Date(d).toISOString() : null);

/** The API shape of a message row. */
export function toMessage(r: MessageRow): Message {
  const waiting = r.status === "queued" || r.status === "scheduled";
  return {
    id: r.id,
    to: r.to_number,
    from: r.from_number,
    body: r.body,
    status: r.status,
    priority: r.priority,
    segments: r.segments,
    encoding: r.encoding,
    sendAt: iso(r.send_at),
    validUntil: iso(r.valid_until),
    metadata: r.metadata,
    attemptCount: r.attempts,
    retrying: r.status === "queued" && r.attempts > 0,
    inDoubt: r.in_doubt,
    nextAttemptAt: waiting ? iso(r.run_at) : null,
    estimatedSendAt: iso(r.estimated_send_at ?? null),
    deadlineAtRisk: r.deadline_at_risk ?? false,
    lastError:
      r.last_error_code === null && r.last_error_message === null
        ? null
        : { code: r.last_error_code, message: r.last_error_message, class: r.last_error_class },
    provider: r.provider,
    providerMessageId: r.provider_message_id,
    createdAt: iso(r.created_at) as string,
    updatedAt: iso(r.updated_at) as string,
    sentAt: iso(r.sent_at),
    completedAt: iso(r.completed_at),
  };
}

/** The API shape of an attempt row. */
export function toAttempt(r: AttemptRow): Attempt {
  return {
    attempt: r.attempt,
    provider: r.provider,
    account: r.account,
    outcome: r.outcome,
    providerMessageId: r.provider_message_id,
    providerStatus: r.provider_status,
    httpStatus: r.http_status,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    errorClass: r.error_class,
    startedAt: iso(r.started_at) as string,
    finishedAt: iso(r.finished_at) as string,
    latencyMs: r.latency_ms,
  };
}

/** The API shape of an event row. */
export function toEvent(r: EventRow): MessageEvent {
  return {
    at: iso(r.at) as string,
    type: r.type,
    fromStatus: r.from_status,
    toStatus: r.to_status,
    source: r.source,
    detail: r.detail,
  };
}
