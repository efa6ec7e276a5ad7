/**
 * Dialpad SMS events → receipts. The mapping is data (the tables below), documented with its
 * sources in docs/providers.md; nothing else in smsq interprets Dialpad status words.
 */
import type { Receipt } from "../store/receipts.js";

/** `message_status` → lifecycle status; `null` moves nothing. Fact sheet B1 (DP-SPEC SMSProto). */
export const DIALPAD_STATUS: Readonly<Record<string, "delivered" | "failed" | null>> = {
  pending: null,
  success: "delivered",
  // Refined by DIALPAD_DELIVERY_RESULT below.
  failed: "failed",
};

/**
 * For `message_status: failed`, the `message_delivery_result` (DP-SPEC enum): `failed` when
 * Dialpad did not accept the message for delivery (bad sender, bad destination, unsupported),
 * `undelivered` when it was rejected downstream. A result not listed → `undelivered`.
 */
export const DIALPAD_DELIVERY_RESULT: Readonly<Record<string, "failed" | "undelivered">> = {
  invalid_source: "failed",
  invalid_destination: "failed",
  not_supported: "failed",
  rejected: "undelivered",
  rejected_spam: "undelivered",
  no_route: "undelivered",
  time_out: "undelivered",
  internal_error: "undelivered",
};

/** The receipt a verified Dialpad SMS event carries, or null when it moves nothing. */
export function dialpadReceipt(event: Record<string, unknown>): Receipt | null {
  // Inbound messages are someone texting us, not news about ours.
  if (event.direction !== "outbound") return null;
  const id = idString(event.id);
  const providerStatus = typeof event.message_status === "string" ? event.message_status : null;
  if (id === null || providerStatus === null) return null;
  const base = Object.hasOwn(DIALPAD_STATUS, providerStatus)
    ? DIALPAD_STATUS[providerStatus]
    : null;
  if (!base) return null;
  const result =
    typeof event.message_delivery_result === "string" && event.message_delivery_result !== ""
      ? event.message_delivery_result
      : null;
  let status: Receipt["status"] = base;
  if (base === "failed") {
    status =
      result !== null && Object.hasOwn(DIALPAD_DELIVERY_RESULT, result)
        ? (DIALPAD_DELIVERY_RESULT[result] ?? "undelivered")
        : "undelivered";
  }
  return {
    provider: "dialpad",
    providerMessageId: id,
    status,
    providerStatus,
    errorCode: base === "failed" ? result : null,
    dedupeKey: `dialpad:${id}:${providerStatus}:${result ?? ""}`,
  };
}

/** A Dialpad id (an int64, possibly kept as a string by {@link parseDialpadJson}) as text. */
export function idString(v: unknown): string | null {
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (typeof v === "string" && /^-?\d+$/.test(v)) return v;
  return null;
}

/**
 * JSON.parse, except integers too large for a double stay exact, as strings. Dialpad ids are
 * int64: a plain parse could round one, and the id from the send response must match the id in
 * the webhook digit for digit. Numbers inside strings are left alone (a lexer tracks strings).
 */
export function parseDialpadJson(text: string): unknown {
  let out = "";
  let last = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      // Skip the string, honouring backslash escapes.
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
      i++;
    } else if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) {
      const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
      const num = m?.[0] ?? c;
      if (m && !m[1] && !m[2] && !Number.isSafeInteger(Number(num))) {
        out += text.slice(last, i) + `"${num}"`;
        last = i + num.length;
      }
      i += num.length;
    } else {
      i++;
    }
  }
  return JSON.parse(out + text.slice(last)) as unknown;
}
