/**
 * The Dialpad adapter: one `POST /api/v2/sms` per call (fact sheet §B, decision map §E).
 * Dialpad documents no idempotency and no rate-limit response, so 403 is read as probable
 * throttling (the 700/min incident) and anything after the request went out is ambiguous.
 */
import type http from "node:http";
import { VERSION } from "../version.js";
import { idString, parseDialpadJson } from "./dialpad-status.js";
import {
  asRecord,
  failureFromError,
  httpFailure,
  permanentFailure,
  request,
  scrub,
  type HttpResponse,
} from "./http.js";
import type { OutboundMessage, Provider, SendResult } from "./types.js";

export interface DialpadOptions {
  /** The account label within smsq. */
  account: string;
  apiToken: string;
  /** A number assigned to a Dialpad user or group; overrides `userId` (DP-SPEC). */
  from?: string | null;
  /** The Dialpad user to send as when there is no from number. */
  userId?: string | null;
  /** Default `https://dialpad.com` (sandbox: `https://sandbox.dialpad.com`). */
  baseUrl?: string;
  connectTimeoutMs?: number;
  timeoutMs?: number;
  agent?: http.Agent;
}

/** Creates the Dialpad provider. */
export function createDialpad(opts: DialpadOptions): Provider {
  const base = (opts.baseUrl ?? "https://dialpad.com").replace(/\/+$/, "");
  const url = `${base}/api/v2/sms`;
  const authorization = `Bearer ${opts.apiToken}`;

  return {
    name: "dialpad",
    account: opts.account,

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
      const hide = [opts.apiToken, msg.body];
      try {
        const payload: Record<string, unknown> = { text: msg.body, to_numbers: [msg.to] };
        const from = msg.from ?? opts.from;
        if (from) payload.from_number = from;
        else if (opts.userId) payload.user_id = userIdValue(opts.userId);
        else return permanentFailure("no_sender", "dialpad: no from number or user id");
        const res = await request({
          url,
          method: "POST",
          headers: {
            authorization,
            "content-type": "application/json",
            accept: "application/json",
            "user-agent": `smsq/${VERSION}`,
          },
          body: JSON.stringify(payload),
          connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
          timeoutMs: opts.timeoutMs ?? 30_000,
          signal,
          agent: opts.agent,
        });
        return classifyDialpad(res, hide);
      } catch (e) {
        return failureFromError(e, "dialpad", hide);
      }
    },
  };
}

/** Reads a Send SMS response into a SendResult. */
export function classifyDialpad(res: HttpResponse, hide: readonly (string | null)[]): SendResult {
  let json: Record<string, unknown> = {};
  try {
    json = asRecord(parseDialpadJson(res.body));
  } catch {
    // Not JSON (a proxy's HTML page, say): the status alone decides.
  }
  if (res.status >= 200 && res.status < 300) {
    const id = idString(json.id);
    if (id === null) {
      return httpFailure(res, "invalid_response", "dialpad: 2xx without a message id", true, true);
    }
    return {
      ok: true,
      providerMessageId: id,
      providerStatus: typeof json.message_status === "string" ? json.message_status : "pending",
      httpStatus: res.status,
    };
  }
  const code = String(res.status);
  const message = scrub(`dialpad ${res.status}${errorDetail(json)}`, hide);
  if (res.status === 429 || res.status === 403) {
    // 429 is the documented-nowhere but obvious signal; 403 is what a team saw at 700/min
    // (fact sheet B2, DP-403). Later work decides when a persistent 403 is an account problem.
    return { ...httpFailure(res, code, message, true, false), rateLimited: true };
  }
  if (res.status >= 500) return httpFailure(res, code, message, true, true);
  if (res.status >= 400) return httpFailure(res, code, message, false, false);
  return httpFailure(res, code, message, true, true);
}

/** ": reason: message" from Dialpad's Google-style error envelope (fact sheet B4), if any. */
function errorDetail(json: Record<string, unknown>): string {
  const err = asRecord(json.error);
  const first = Array.isArray(err.errors) ? asRecord(err.errors[0]) : {};
  const reason = typeof first.reason === "string" ? first.reason : null;
  const text =
    typeof err.message === "string"
      ? err.message
      : typeof first.message === "string"
        ? first.message
        : typeof json.message === "string"
          ? json.message
          : null;
  return (reason ? ` ${reason}` : "") + (text ? `: ${text}` : "");
}

/** user_id is an int64: a number when exact, else the digits (proto JSON takes both). */
function userIdValue(userId: string): number | string {
  const n = Number(userId);
  return /^\d+$/.test(userId) && Number.isSafeInteger(n) ? n : userId;
}
