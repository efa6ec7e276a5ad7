/**
 * Twilio status callbacks → receipts. The mapping is data (the tables below), documented with
 * its sources in docs/providers.md; nothing else in smsq interprets Twilio status words.
 */
import type { Receipt } from "../store/receipts.js";

/**
 * `MessageStatus` → lifecycle status; `null` means the callback moves nothing (Twilio's own
 * pre-send states, and inbound states). Fact sheet A4 (OAI `message_enum_status`, DOC-SC).
 */
export const TWILIO_STATUS: Readonly<Record<string, Receipt["status"] | null>> = {
  accepted: null,
  scheduled: null,
  queued: null,
  sending: null,
  sent: "sent",
  delivered: "delivered",
  // WhatsApp and other OTT channels report `read` after `delivered`.
  read: "delivered",
  undelivered: "undelivered",
  failed: "failed",
  canceled: "failed",
  receiving: null,
  received: null,
};

/**
 * Error codes that mean the recipient opted out or blocked us: 21610 (replied STOP, sync 400)
 * and 30004 (message blocked, async). Fact sheet A3 (E-21610, E-30004), A8 (SUP-STOP).
 */
export const TWILIO_OPT_OUT_CODES: ReadonlySet<string> = new Set(["21610", "30004"]);

/** True when a Twilio error code means the recipient opted out (suppress them). */
export function twilioOptOutCode(code: string | null | undefined): boolean {
  return code != null && TWILIO_OPT_OUT_CODES.has(code.trim());
}

/** The receipt a Twilio status callback's form params carry, or null when it moves nothing. */
export function twilioReceipt(params: Record<string, string>): Receipt | null {
  // `SmsSid`/`SmsStatus` are the legacy names Twilio still sends alongside.
  const sid = params.MessageSid || params.SmsSid;
  const providerStatus = params.MessageStatus || params.SmsStatus;
  if (!sid || !providerStatus) return null;
  // Own-property lookup: a status word like `constructor` must not hit Object.prototype.
  const status = Object.hasOwn(TWILIO_STATUS, providerStatus)
    ? TWILIO_STATUS[providerStatus]
    : null;
  if (!status) return null;
  const errorCode = params.ErrorCode?.trim() || null;
  const receipt: Receipt = {
    provider: "twilio",
    providerMessageId: sid,
    status,
    providerStatus,
    errorCode,
    // Twilio may send a status twice (its webhook retry); a different ErrorCode is new news.
    dedupeKey: `twilio:${sid}:${providerStatus}${errorCode ? `:${errorCode}` : ""}`,
  };
  if (status !== "delivered" && status !== "sent" && twilioOptOutCode(errorCode)) {
    receipt.optOut = true;
  }
  return receipt;
}
