/**
 * The Twilio Programmable Messaging adapter: one `POST …/Messages.json` per call, classified
 * into a SendResult (fact sheet §A, decision map §E). Twilio's create is not idempotent, so any
 * failure after the request may have reached Twilio (5xx, timeout, reset) is ambiguous.
 */
import { twilioLookup } from "./twilio-lookup.js";
import type http from "node:http";
import { VERSION } from "../version.js";
import {
  asRecord,
  failureFromError,
  httpFailure,
  permanentFailure,
  request,
  scrub,
  tryJson,
  type HttpResponse,
} from "./http.js";
import type { OutboundMessage, Provider, SendResult } from "./types.js";

export interface TwilioOptions {
  /** The account label within smsq. */
  account: string;
  accountSid: string;
  /** Account SID + Auth Token, or API key SID + secret (then `accountSid` names the account). */
  auth: { username: string; password: string };
  from?: string | null;
  messagingServiceSid?: string | null;
  /** Default `https://api.twilio.com`. */
  baseUrl?: string;
  statusCallbackUrl?: string | null;
  connectTimeoutMs?: number;
  timeoutMs?: number;
  agent?: http.Agent;
}

/** ValidityPeriod bounds (fact sheet A1, OAI): integer seconds, 1–36000. */
const VALIDITY_MIN_S = 1;
const VALIDITY_MAX_S = 36_000;

/** Twilio error codes with a meaning of their own at create time (fact sheet A2/A3). */
const RATE_LIMIT_CODES = new Set(["20429", "21611"]);
const OPT_OUT_CODES = new Set(["21610"]);

/** Creates the Twilio provider. */
export function createTwilio(opts: TwilioOptions): Provider {
  const base = (opts.baseUrl ?? "https://api.twilio.com").replace(/\/+$/, "");
  const url = `${base}/2010-04-01/Accounts/${encodeURIComponent(opts.accountSid)}/Messages.json`;
  const authorization =
    "Basic " + Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString("base64");
  const secrets = [opts.auth.password];

  return {
    name: "twilio",
    account: opts.account,

    // After an ambiguous create: ask Twilio whether the message exists before any resend.
    lookup: (q, signal) =>
      twilioLookup(
        {
          accountSid: opts.accountSid,
          auth: opts.auth,
          from: opts.from ?? null,
          baseUrl: base,
          timeoutMs: opts.timeoutMs,
          connectTimeoutMs: opts.connectTimeoutMs,
          agent: opts.agent,
        },
        q,
        signal,
      ),

    async warm(): Promise<void> {
      await request({
        url: `${base}/`,
        method: "HEAD",
        headers: { "user-agent": `smsq/${VERSION}` },
        connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
        timeoutMs: 5000,
        agent: opts.agent,
      }).catch(() => undefined);
    },

    async send(msg: OutboundMessage, signal: AbortSignal): Promise<SendResult> {
      // Everything the adapter says is scrubbed of the credentials and this message's body.
      const hide = [...secrets, msg.body];
      try {
        const form = new URLSearchParams();
        form.set("To", msg.to);
        const from = msg.from ?? opts.from;
        if (from) {
          form.set("From", from);
        } else if (opts.messagingServiceSid) {
          form.set("MessagingServiceSid", opts.messagingServiceSid);
        } else {
          return permanentFailure("no_sender", "twilio: no From number or Messaging Service");
        }
        form.set("Body", msg.body);
        if (opts.statusCallbackUrl) form.set("StatusCallback", opts.statusCallbackUrl);
        if (msg.validUntil) {
          const left = msg.validUntil.getTime() - Date.now();
          // Twilio would queue it and then drop it anyway; don't spend a call.
          if (left <= 0) {
            return permanentFailure("expired", "twilio: validity ended before the call");
          }
          const s = Math.floor(left / 1000);
          form.set("ValidityPeriod", String(Math.min(VALIDITY_MAX_S, Math.max(VALIDITY_MIN_S, s))));
        }
        form.set("Attempt", String(msg.attempt));
        const res = await request({
          url,
          method: "POST",
          headers: {
            authorization,
            "content-type": "application/x-www-form-urlencoded",
            accept: "application/json",
            "user-agent": `smsq/${VERSION}`,
          },
          body: form.toString(),
          connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
          timeoutMs: opts.timeoutMs ?? 30_000,
          signal,
          agent: opts.agent,
        });
        return classifyTwilio(res, hide);
      } catch (e) {
        return failureFromError(e, "twilio", hide);
      }
    },
  };
}

/** Reads a Create Message response into a SendResult. */
export function classifyTwilio(res: HttpResponse, hide: readonly (string | null)[]): SendResult {
  const json = asRecord(tryJson(res.body));
  if (res.status >= 200 && res.status < 300) {
    if (typeof json.sid !== "string" || json.sid === "") {
      // Twilio said yes but we cannot tell to what: the message may exist.
      return httpFailure(res, "invalid_response", "twilio: 2xx without a message sid", true, true);
    }
    const segments = Number(json.num_segments);
    return {
      ok: true,
      providerMessageId: json.sid,
      providerStatus: typeof json.status === "string" ? json.status : "queued",
      httpStatus: res.status,
      // "initially 0" through a Messaging Service (fact sheet A1): unknown then.
      ...(Number.isInteger(segments) && segments > 0 ? { segments } : {}),
    };
  }
  const twilioCode =
    typeof json.code === "number" || (typeof json.code === "string" && json.code !== "")
      ? String(json.code)
      : null;
  const code = twilioCode ?? String(res.status);
  const detail = typeof json.message === "string" ? `: ${json.message}` : "";
  const message = scrub(`twilio ${res.status}${twilioCode ? ` ${twilioCode}` : ""}${detail}`, hide);

  if (res.status === 429 || (twilioCode !== null && RATE_LIMIT_CODES.has(twilioCode))) {
    // 429/20429: not processed, safe to resend; 21611: sender queue full, nothing created.
    return { ...httpFailure(res, code, message, true, false), rateLimited: true };
  }
  if (twilioCode !== null && OPT_OUT_CODES.has(twilioCode)) {
    return { ...httpFailure(res, code, message, false, false), optOut: true };
  }
  if (res.status >= 500) return httpFailure(res, code, message, true, true);
  if (res.status >= 400) return httpFailure(res, code, message, false, false);
  // 1xx/3xx: not something the API answers; we cannot tell what happened.
  return httpFailure(res, code, message, true, true);
}
