/**
 * Semantic checks on a submitted message (the JSON shape is checked before, by the schema):
 * phone numbers, body and segments, dates, metadata. Produces the normalised message to store
 * or throws an SmsqError naming the field at fault.
 */
import { SmsqError } from "../errors.js";
import { newMessageId } from "./ids.js";
import { toE164 } from "./phone.js";
import type { MessageInput, Priority } from "./schemas.js";
import { countSegments, type Encoding } from "./segments.js";

export interface ValidationSettings {
  defaultRegion: string;
  maxSegments: number;
}

/** A message ready to insert. */
export interface NewMessage {
  id: string;
  to: string;
  from: string | null;
  body: string;
  segments: number;
  encoding: Encoding;
  priority: Priority;
  lane: number;
  status: "scheduled" | "queued";
  sendAt: Date | null;
  validUntil: Date | null;
  runAt: Date;
  metadata: Record<string, unknown> | null;
  /** When it is expected to be sent, estimated at submit under a rate limit (null: at once). */
  estimatedSendAt?: Date | null;
  /** Accepted although that estimate is after its validUntil (onDeadline: "accept"). */
  deadlineAtRisk?: boolean;
}

export const LANES: Record<Priority, number> = { high: 0, normal: 1, low: 2 };

const MAX_METADATA_BYTES = 4096;
const MAX_SCHEDULE_AHEAD_MS = 366 * 24 * 3600 * 1000;
// RFC 3339 date-time with an explicit offset: a time without a zone is ambiguous, so refused.
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const ALPHANUMERIC_SENDER = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;
const SHORT_CODE = /^\d{3,8}$/;

/** Parses an RFC 3339 time, refusing impossible dates such as February 30th. */
export function parseTime(value: string, field: string): Date {
  const m = RFC3339.exec(value);
  const bad = () =>
    new SmsqError(
      "invalid_date",
      `${field} must be an RFC 3339 date-time with a time zone, e.g. 2026-01-31T09:00:00Z`,
      field,
    );
  if (!m) throw bad();
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  const ms = Date.parse(value.replace(" ", "T"));
  if (Number.isNaN(ms)) throw bad();
  // Date.parse rolls impossible days over (Feb 30 → Mar 1); check the fields survive.
  const probe = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!));
  if (
    probe.getUTCFullYear() !== y ||
    probe.getUTCMonth() !== mo! - 1 ||
    probe.getUTCDate() !== d ||
    h! > 23 ||
    mi! > 59 ||
    s! > 59
  ) {
    throw bad();
  }
  return new Date(ms);
}

/**
 * True when `s` holds a NUL or an unpaired UTF-16 surrogate: valid in a JS string, but
 * PostgreSQL refuses them in jsonb (and text silently turns a lone surrogate into U+FFFD).
 */
export function hasUnstorableChars(s: string): boolean {
  return s.includes("\u0000") || /\p{Cs}/u.test(s);
}

/** True when a string or object key anywhere in `v` holds text PostgreSQL cannot store. */
function hasUnstorableText(v: unknown): boolean {
  if (typeof v === "string") return hasUnstorableChars(v);
  if (Array.isArray(v)) return v.some(hasUnstorableText);
  if (v !== null && typeof v === "object") {
    return Object.entries(v).some(([k, x]) => hasUnstorableChars(k) || hasUnstorableText(x));
  }
  return false;
}

function checkFrom(from: string, region: string, field: string): string {
  const trimmed = from.trim();
  if (SHORT_CODE.test(trimmed) || ALPHANUMERIC_SENDER.test(trimmed)) return trimmed;
  const e164 = toE164(trimmed, region);
  if (e164) return e164;
  throw new SmsqError(
    "invalid_phone",
    `${field} must be a valid phone number, a short code or an alphanumeric sender id`,
    field,
  );
}

/**
 * Validates one message input and returns the message to store. `prefix` is prepended to
 * field names (e.g. "messages[3].") so batch errors point at the item.
 */
export function validateMessage(
  input: MessageInput,
  settings: ValidationSettings,
  now: Date,
  prefix = "",
): NewMessage {
  const f = (name: string) => prefix + name;

  const to = toE164(input.to, settings.defaultRegion);
  if (!to) {
    throw new SmsqError(
      "invalid_phone",
      `to is not a valid phone number (default region ${settings.defaultRegion})`,
      f("to"),
    );
  }

  if (input.body.trim().length === 0) {
    throw new SmsqError("invalid_body", "body must not be empty", f("body"));
  }
  if (hasUnstorableChars(input.body)) {
    throw new SmsqError(
      "invalid_body",
      "body must not contain NUL characters or unpaired surrogates",
      f("body"),
    );
  }
  const seg = countSegments(input.body);
  if (seg.segments > settings.maxSegments) {
    throw new SmsqError(
      "body_too_long",
      `body is ${seg.segments} ${seg.encoding} segments; the maximum is ${settings.maxSegments}`,
      f("body"),
    );
  }

  const from =
    input.from === undefined ? null : checkFrom(input.from, settings.defaultRegion, f("from"));

  const sendAt = input.sendAt === undefined ? null : parseTime(input.sendAt, f("sendAt"));
  const validUntil =
    input.validUntil === undefined ? null : parseTime(input.validUntil, f("validUntil"));
  if (sendAt && sendAt.getTime() - now.getTime() > MAX_SCHEDULE_AHEAD_MS) {
    throw new SmsqError("invalid_schedule", "sendAt must be at most 366 days ahead", f("sendAt"));
  }
  if (validUntil) {
    if (validUntil.getTime() <= now.getTime()) {
      throw new SmsqError("invalid_schedule", "validUntil is in the past", f("validUntil"));
    }
    if (sendAt && validUntil.getTime() <= sendAt.getTime()) {
      throw new SmsqError("invalid_schedule", "validUntil must be after sendAt", f("validUntil"));
    }
  }

  let metadata: Record<string, unknown> | null = null;
  if (input.metadata !== undefined) {
    let json: string;
    try {
      json = JSON.stringify(input.metadata);
    } catch {
      // A body can nest far deeper than JSON.stringify recurses (RangeError): refuse it.
      throw new SmsqError("invalid_metadata", "metadata is nested too deeply", f("metadata"));
    }
    const size = Buffer.byteLength(json, "utf8");
    if (size > MAX_METADATA_BYTES) {
      throw new SmsqError(
        "invalid_metadata",
        `metadata is ${size} bytes as JSON; the maximum is ${MAX_METADATA_BYTES}`,
        f("metadata"),
      );
    }
    if (hasUnstorableText(input.metadata)) {
      throw new SmsqError(
        "invalid_metadata",
        "metadata must not contain NUL characters or unpaired surrogates",
        f("metadata"),
      );
    }
    metadata = input.metadata;
  }

  const priority = input.priority ?? "normal";
  const scheduled = sendAt !== null && sendAt.getTime() > now.getTime();
  return {
    id: newMessageId(now.getTime()),
    to,
    from,
    body: input.body,
    segments: seg.segments,
    encoding: seg.encoding,
    priority,
    lane: LANES[priority],
    status: scheduled ? "scheduled" : "queued",
    sendAt,
    validUntil,
    runAt: scheduled && sendAt ? sendAt : now,
    metadata,
  };
}
