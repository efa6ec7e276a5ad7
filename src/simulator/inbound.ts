/**
 * Inbound SMS as Twilio delivers them to a messaging webhook, with Twilio's default opt-out
 * handling: a single-word STOP keyword blocks further sends to that number from the whole
 * account (21610) until START; the message still reaches the webhook.
 */
import { countSegments } from "../messages/segments.js";
import type { SimContext } from "./context.js";
import { hexId } from "./http.js";
import { twilioSignature } from "./signing.js";
import type { TwilioStore } from "./twilio-store.js";
import type { SimInbound, SimTwilioAccount } from "./types.js";

// Twilio's default keywords, fact sheet A8 (REVOKE and OPTOUT since 2025-04-29).
const STOP_WORDS = new Set([
  "STOP",
  "STOPALL",
  "UNSUBSCRIBE",
  "CANCEL",
  "END",
  "QUIT",
  "REVOKE",
  "OPTOUT",
]);
const START_WORDS = new Set(["START", "YES", "UNSTOP"]);
const HELP_WORDS = new Set(["HELP", "INFO"]);

/** Records the opt-out keyword, posts the signed inbound SMS, resolves with the answer's status. */
export async function deliverInbound(
  ctx: SimContext,
  store: TwilioStore,
  account: SimTwilioAccount,
  o: SimInbound,
): Promise<number> {
  const word = o.body.trim().toUpperCase();
  let optOutType: string | null = null;
  if (STOP_WORDS.has(word)) {
    store.setOptOut(account.sid, o.from, true);
    optOutType = "STOP";
  } else if (START_WORDS.has(word)) {
    store.setOptOut(account.sid, o.from, false);
    optOutType = "START";
  } else if (HELP_WORDS.has(word)) {
    optOutType = "HELP";
  }
  const sid = "SM" + hexId();
  const params: Record<string, string> = {
    AccountSid: account.sid,
    ApiVersion: "2010-04-01",
    Body: o.body,
    From: o.from,
    MessageSid: sid,
    NumMedia: "0",
    NumSegments: String(countSegments(o.body).segments),
    SmsMessageSid: sid,
    SmsSid: sid,
    SmsStatus: "received",
    To: o.to,
  };
  // Twilio adds OptOutType with Advanced Opt-Out; sent always here so handlers can rely on it.
  if (optOutType) params.OptOutType = optOutType;
  const headers = {
    "content-type": "application/x-www-form-urlencoded",
    "user-agent": "TwilioProxy/1.1",
    "x-twilio-signature": twilioSignature(account.authToken, o.url, params),
    "i-twilio-idempotency-token": sid,
  };
  const status = await ctx.poster.post(o.url, headers, new URLSearchParams(params).toString(), {
    retries: 0,
    delayMs: 0,
    timeoutMs: ctx.behaviour.callbackTimeoutMs,
  });
  if (status === null) throw new Error(`inbound: no answer from ${o.url}`);
  return status;
}
