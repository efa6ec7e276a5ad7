/**
 * Twilio's Messages API as smsq's adapter sees it: create (with every limit and fault the
 * simulator can inject), fetch, list, signed status callbacks and inbound messages.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { countSegments } from "../messages/segments.js";
import { drawFaults, matchRule } from "./behaviour.js";
import { sleep } from "./callbacks.js";
import { eventOrder, retryPolicy, type SimContext } from "./context.js";
import { E164, dropConnection, hexId, readBody, sendJson, twilioError } from "./http.js";
import { deliverInbound } from "./inbound.js";
import { twilioSignature } from "./signing.js";
import {
  messageJson,
  parseDateSent,
  type ListFilter,
  type TwilioMessage,
  type TwilioStatus,
  type TwilioStore,
} from "./twilio-store.js";
import type { SimInbound, SimLogEntry, SimTwilioAccount } from "./types.js";

const ROUTE = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages(?:\/([^/]+))?\.json$/;
const URL_RE = /^https?:\/\/[^\s/]+/i;

const unauthorized = twilioError(20003, "Authenticate", 401);

/** The accounts the simulated Twilio knows, and where each API key belongs. */
function indexAccounts(accounts: SimTwilioAccount[]) {
  const byKey = new Map<string, { account: SimTwilioAccount; secret: string }>();
  const bySid = new Map<string, SimTwilioAccount>();
  for (const a of accounts) {
    bySid.set(a.sid, a);
    for (const k of a.apiKeys ?? []) byKey.set(k.sid, { account: a, secret: k.secret });
  }
  return { bySid, byKey };
}

/** YYMMDDhhmm in UTC, as Twilio's RawDlrDoneDate. */
function dlrDate(ms: number): string {
  const d = new Date(ms).toISOString();
  return d.slice(2, 4) + d.slice(5, 7) + d.slice(8, 10) + d.slice(11, 13) + d.slice(14, 16);
}

/** Twilio's endpoints of the simulator. */
export class TwilioApi {
  private readonly bySid: Map<string, SimTwilioAccount>;
  private readonly byKey: Map<string, { account: SimTwilioAccount; secret: string }>;
  // Authorization header → the account it authenticates ("" = none); clients repeat one header.
  private readonly authCache = new Map<string, string>();

  constructor(
    private readonly ctx: SimContext,
    readonly store: TwilioStore,
    readonly accounts: readonly SimTwilioAccount[],
  ) {
    ({ bySid: this.bySid, byKey: this.byKey } = indexAccounts([...accounts]));
  }

  /** Handles a request under /2010-04-01/; false when the path is not one of ours. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) {
    const m = ROUTE.exec(path);
    if (!m) return false;
    const accountSid = decodeURIComponent(m[1] as string);
    const messageSid = m[2] === undefined ? null : decodeURIComponent(m[2]);
    if (messageSid === null && req.method === "POST") {
      await this.create(req, res, accountSid);
    } else if (!this.authenticate(req, accountSid)) {
      sendJson(res, 401, unauthorized);
    } else if (req.method !== "GET") {
      sendJson(res, 405, twilioError(20004, "Method not allowed", 405));
    } else if (messageSid === null) {
      this.list(res, accountSid, query);
    } else {
      const msg = this.store.get(accountSid, messageSid);
      if (msg) sendJson(res, 200, messageJson(msg));
      else {
        sendJson(res, 404, twilioError(20404, `The requested resource ${path} was not found`, 404));
      }
    }
    return true;
  }

  /** HTTP Basic with the AccountSid and its auth token, or an API key of that account. */
  private authenticate(req: IncomingMessage, accountSid: string): boolean {
    const header = req.headers.authorization;
    if (!header) return false;
    let who = this.authCache.get(header);
    if (who === undefined) {
      who = "";
      if (header.startsWith("Basic ")) {
        const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
        const colon = decoded.indexOf(":");
        const user = decoded.slice(0, colon);
        const pass = decoded.slice(colon + 1);
        if (colon > 0) {
          const account = this.bySid.get(user);
          const key = this.byKey.get(user);
          if (account && account.authToken === pass) who = account.sid;
          else if (key && key.secret === pass) who = key.account.sid;
        }
      }
      if (this.authCache.size >= 256) this.authCache.clear();
      this.authCache.set(header, who);
    }
    return who !== "" && who === accountSid;
  }

  private async create(req: IncomingMessage, res: ServerResponse, accountSid: string) {
    const { ctx } = this;
    const raw = await readBody(req);
    const p = new URLSearchParams(raw);
    const to = p.get("To") ?? "";
    const from = p.get("From") || null;
    const service = p.get("MessagingServiceSid") || null;
    const body = p.get("Body") ?? "";
    const segments = body === "" ? 0 : countSegments(body).segments;
    const log = (
      outcome: SimLogEntry["outcome"],
      response: SimLogEntry["response"],
      code: number | string | null,
      id: string | null = null,
    ) =>
      ctx.log.add({
        provider: "twilio",
        account: accountSid,
        id,
        to,
        from,
        body,
        segments,
        outcome,
        response,
        code,
      });
    const reject = (status: number, code: number | string, message: string) => {
      log("rejected", status, code);
      sendJson(res, status, twilioError(code, message, status));
    };

    if (!this.authenticate(req, accountSid)) return reject(401, 20003, "Authenticate");
    const account = this.bySid.get(accountSid) as SimTwilioAccount;
    let b = ctx.behaviour;
    if (b.accountConcurrency !== null) {
      if (!ctx.concurrency.tryAcquire(accountSid, b.accountConcurrency)) {
        return reject(429, 20429, "Too Many Requests");
      }
      // 'close' comes when the answer is written or the client is gone (timeout/drop faults).
      res.once("close", () => ctx.concurrency.release(accountSid));
    }
    if (b.latencyMs > 0) {
      await sleep(b.latencyMs);
      b = ctx.behaviour;
    }

    const faults = drawFaults(b, ctx.random);
    if (faults.tooMany) return reject(429, 20429, "Too Many Requests");
    if (faults.drop === "before") {
      log("rejected", "dropped", null);
      return dropConnection(req, res);
    }
    if (faults.serverError === "before") return reject(500, 20500, "Internal Server Error");

    if (to === "") return reject(400, 21604, "A 'To' phone number is required.");
    if (!E164.test(to)) {
      return reject(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    }
    if (!from && !service) return reject(400, 21603, "A 'From' phone number is required.");
    if (body === "" && !p.has("MediaUrl")) return reject(400, 21602, "Message body is required.");
    if (body.length > 1600) {
      return reject(400, 21617, "The concatenated message body exceeds the 1600 character limit.");
    }
    const validity = p.get("ValidityPeriod");
    if (validity !== null && !/^\d+$/.test(validity)) {
      return reject(400, 20001, "Invalid parameter: ValidityPeriod");
    }
    if (validity !== null && (+validity < 1 || +validity > 36_000)) {
      return reject(400, 20001, "Invalid parameter: ValidityPeriod must be between 1 and 36000");
    }
    const attempt = p.get("Attempt");
    if (attempt !== null && !/^[1-9]\d*$/.test(attempt)) {
      return reject(400, 20001, "Invalid parameter: Attempt");
    }
    const callback = p.get("StatusCallback") || null;
    if (callback !== null && !URL_RE.test(callback)) {
      return reject(400, 21609, `The StatusCallback URL ${callback} is not a valid URL.`);
    }

    const createRule = matchRule(ctx.rules.create, to);
    if (createRule) {
      return reject(
        createRule.status ?? 400,
        createRule.code,
        `Simulated error ${createRule.code}`,
      );
    }
    if (this.store.isOptedOut(accountSid, to)) {
      return reject(400, 21610, "Attempt to send to unsubscribed recipient");
    }
    let waitMs = 0;
    if (b.senderSegmentsPerSecond !== null) {
      const verdict = ctx.senders.take(
        accountSid + "|" + (from ?? service),
        Math.max(segments, 1),
        b.senderSegmentsPerSecond,
        b.senderLimitMode,
        b.senderQueueSeconds,
      );
      if (!verdict.ok && verdict.reason === "rate") return reject(429, 20429, "Too Many Requests");
      if (!verdict.ok) {
        return reject(
          400,
          21611,
          "This 'From' number has exceeded the maximum number of queued messages",
        );
      }
      waitMs = verdict.waitMs;
    }

    const now = ctx.now();
    const msg: TwilioMessage = {
      sid: "SM" + hexId(),
      accountSid,
      to,
      from,
      messagingServiceSid: service,
      body,
      segments,
      status: service ? "accepted" : "queued",
      createdAt: now,
      updatedAt: now,
      sentAt: null,
      errorCode: null,
      statusCallback: callback === null ? null : callback.replace(/#.*$/, ""),
    };
    this.store.add(msg);
    const deliveryRule = matchRule(ctx.rules.delivery, to);
    this.schedule(msg, account, deliveryRule ? deliveryRule.code : null, waitMs);

    if (faults.timeout) {
      // Keep the socket open and never answer: the client decides when to give up.
      log("created", "timeout", null, msg.sid);
      return;
    }
    if (faults.drop === "after") {
      log("created", "dropped", null, msg.sid);
      return dropConnection(req, res);
    }
    if (faults.serverError === "after") {
      log("created", 500, 20500, msg.sid);
      return sendJson(res, 500, twilioError(20500, "Internal Server Error", 500));
    }
    log("created", 201, null, msg.sid);
    sendJson(res, 201, messageJson(msg));
  }

  private list(res: ServerResponse, accountSid: string, q: URLSearchParams) {
    const f: ListFilter = { to: q.get("To"), from: q.get("From"), after: null, before: null };
    for (const [key, edge] of [
      ["DateSent", "both"],
      ["DateSent>", "after"],
      ["DateSent<", "before"],
    ] as const) {
      const v = q.get(key);
      if (v === null) continue;
      const range = parseDateSent(v);
      if (!range) {
        return sendJson(res, 400, twilioError(20001, `Invalid parameter: ${key}`, 400));
      }
      if (edge !== "before") f.after = Math.max(f.after ?? -Infinity, range[0]);
      if (edge !== "after") f.before = Math.min(f.before ?? Infinity, range[1]);
    }
    const pageSize = Math.min(1000, Math.max(1, Number(q.get("PageSize") ?? 50) || 50));
    const page = Math.max(0, Math.floor(Number(q.get("Page") ?? 0) || 0));
    const { items, more } = this.store.list(accountSid, f, page, pageSize);
    const base = `/2010-04-01/Accounts/${accountSid}/Messages.json`;
    const params = new URLSearchParams(q);
    params.set("PageSize", String(pageSize));
    const pageUri = (n: number) => {
      params.set("Page", String(n));
      return `${base}?${params.toString()}`;
    };
    sendJson(res, 200, {
      messages: items.map(messageJson),
      page,
      page_size: pageSize,
      start: page * pageSize,
      end: page * pageSize + Math.max(0, items.length - 1),
      uri: pageUri(page),
      first_page_uri: pageUri(0),
      previous_page_uri: page > 0 ? pageUri(page - 1) : null,
      next_page_uri: more ? pageUri(page + 1) : null,
    });
  }

  /** Plans the message's status events: `sent` (optional) then `delivered` or `undelivered`. */
  private schedule(
    msg: TwilioMessage,
    account: SimTwilioAccount,
    failCode: number | string | null,
    waitMs: number,
  ) {
    const final: TwilioStatus = failCode === null ? "delivered" : "undelivered";
    const steps = eventOrder<TwilioStatus>(this.ctx, "sent", final).map(
      ({ status }) =>
        () =>
          this.emit(msg, account, status, failCode),
    );
    this.ctx.events.schedule(this.ctx.behaviour.callbackDelayMs + waitMs, steps);
  }

  private async emit(
    msg: TwilioMessage,
    account: SimTwilioAccount,
    status: TwilioStatus,
    failCode: number | string | null,
  ) {
    const now = this.ctx.now();
    if (status === "undelivered") msg.errorCode = failCode;
    this.store.advance(msg, status, now);
    if (!msg.statusCallback) return;
    const params: Record<string, string> = {
      AccountSid: msg.accountSid,
      ApiVersion: "2010-04-01",
      MessageSid: msg.sid,
      MessageStatus: status,
      SmsSid: msg.sid,
      SmsStatus: status,
      To: msg.to,
    };
    if (msg.from) params.From = msg.from;
    if (msg.messagingServiceSid) params.MessagingServiceSid = msg.messagingServiceSid;
    if (status === "undelivered" && failCode !== null) params.ErrorCode = String(failCode);
    if (status !== "sent") params.RawDlrDoneDate = dlrDate(now);
    const headers = {
      "content-type": "application/x-www-form-urlencoded",
      "user-agent": "TwilioProxy/1.1",
      "x-twilio-signature": twilioSignature(account.authToken, msg.statusCallback, params),
      // The same token for a repeated delivery of the same event, as Twilio's retries carry.
      "i-twilio-idempotency-token": `${msg.sid}-${status}`,
    };
    const body = new URLSearchParams(params).toString();
    await this.ctx.poster.post(msg.statusCallback, headers, body, retryPolicy(this.ctx.behaviour));
  }

  /** Delivers an inbound SMS to `o.url` as this account's Twilio would (see inbound.ts). */
  inbound(o: SimInbound): Promise<number> {
    const account = o.account ? this.bySid.get(o.account) : this.accounts[0];
    if (!account) {
      return Promise.reject(
        new Error(`unknown Twilio account ${o.account ?? "(none configured)"}`),
      );
    }
    return deliverInbound(this.ctx, this.store, account, o);
  }
}
