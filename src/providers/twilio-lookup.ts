/**
 * Reconciliation for Twilio: its create is not idempotent, so after an ambiguous attempt
 * (timeout, 5xx, dropped connection) smsq asks whether the message exists before any resend.
 * It lists the account's messages by To, From and `DateSent>=` (newest first, up to three pages)
 * and looks for the same body created no earlier than a minute before the attempt started.
 */
import type http from "node:http";
import { VERSION } from "../version.js";
import { asRecord, ProviderHttpError, request, scrub, tryJson } from "./http.js";

export interface TwilioLookupOptions {
  accountSid: string;
  /** Account SID + Auth Token, or API key SID + secret. */
  auth: { username: string; password: string };
  /** The sender used when the message has none (as createTwilio's `from`). */
  from?: string | null;
  /** Default `https://api.twilio.com`. */
  baseUrl?: string;
  timeoutMs?: number;
  connectTimeoutMs?: number;
  agent?: http.Agent;
}

export interface LookupQuery {
  to: string;
  from: string | null;
  body: string;
  /** When the ambiguous attempt started: messages created more than 60 s before are ignored. */
  sentAfter: Date;
}

export type LookupResult =
  | { found: true; providerMessageId: string; providerStatus: string }
  | { found: false }
  | { error: string };

/** Clock skew allowed between smsq and Twilio (and Twilio's whole-second timestamps). */
const SKEW_MS = 60_000;
const PAGE_SIZE = 50;
const MAX_PAGES = 3;

/** Asks Twilio whether the message exists. Never throws; errors carry no secret or body. */
export async function twilioLookup(
  opts: TwilioLookupOptions,
  q: LookupQuery,
  signal: AbortSignal,
): Promise<LookupResult> {
  const hide = [opts.auth.password, q.body];
  try {
    const base = (opts.baseUrl ?? "https://api.twilio.com").replace(/\/+$/, "");
    const earliest = q.sentAfter.getTime() - SKEW_MS;
    if (Number.isNaN(earliest)) return { error: "twilio lookup: sentAfter is not a valid time" };
    const params = new URLSearchParams();
    params.set("To", q.to);
    const from = q.from ?? opts.from ?? null;
    if (from) params.set("From", from);
    // Twilio's range filter is the parameter name "DateSent>" (sent as DateSent%3E=YYYY-MM-DD).
    params.set("DateSent>", new Date(earliest).toISOString().slice(0, 10));
    params.set("PageSize", String(PAGE_SIZE));
    let url: string | null =
      `${base}/2010-04-01/Accounts/${encodeURIComponent(opts.accountSid)}/Messages.json?` +
      params.toString();
    const headers = {
      authorization:
        "Basic " + Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString("base64"),
      accept: "application/json",
      "user-agent": `smsq/${VERSION}`,
    };

    let best: { sid: string; status: string; distance: number } | null = null;
    for (let page = 0; page < MAX_PAGES && url !== null; page++) {
      const res = await request({
        url,
        method: "GET",
        headers,
        connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
        timeoutMs: opts.timeoutMs ?? 30_000,
        signal,
        agent: opts.agent,
      });
      const json = asRecord(tryJson(res.body));
      if (res.status < 200 || res.status >= 300) {
        const code = json.code === undefined || json.code === null ? "" : ` ${String(json.code)}`;
        const detail = typeof json.message === "string" ? `: ${json.message}` : "";
        return { error: scrub(`twilio lookup: HTTP ${res.status}${code}${detail}`, hide) };
      }
      if (!Array.isArray(json.messages)) {
        return { error: `twilio lookup: HTTP ${res.status} without a message list` };
      }
      for (const item of json.messages) {
        const m = asRecord(item);
        const created = typeof m.date_created === "string" ? Date.parse(m.date_created) : NaN;
        if (
          typeof m.sid !== "string" ||
          m.sid === "" ||
          m.to !== q.to ||
          m.body !== q.body ||
          Number.isNaN(created) ||
          created < earliest
        ) {
          continue;
        }
        // Of several copies, the one created closest to the attempt.
        const distance = Math.abs(created - q.sentAfter.getTime());
        if (best === null || distance < best.distance) {
          best = {
            sid: m.sid,
            status: typeof m.status === "string" ? m.status : "unknown",
            distance,
          };
        }
      }
      // No early stop on old dates: the order need not follow date_created.
      url = nextPage(base, json.next_page_uri);
    }
    return best
      ? { found: true, providerMessageId: best.sid, providerStatus: best.status }
      : { found: false };
  } catch (e) {
    const what =
      e instanceof ProviderHttpError
        ? `${e.code}: ${e.message}`
        : e instanceof Error
          ? e.message
          : String(e);
    return { error: scrub(`twilio lookup: ${what}`, hide) };
  }
}

/** The next page's URL, only on the API's own host (the credentials go with it). */
function nextPage(base: string, uri: unknown): string | null {
  if (typeof uri !== "string" || uri === "") return null;
  if (uri.startsWith("/")) return base + uri;
  try {
    return new URL(uri).origin === new URL(base).origin ? uri : null;
  } catch {
    return null;
  }
}
