/**
 * Dialpad's `/api/v2/sms` as smsq's adapter sees it: send (with the per-minute limit answered by
 * an ambiguous 403, and the injected faults), webhook and SMS-subscription registration, and SMS
 * events signed as HS256 JWTs.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { countSegments } from "../messages/segments.js";
import { drawFaults, matchRule } from "./behaviour.js";
import { sleep } from "./callbacks.js";
import { eventOrder, retryPolicy, type SimContext } from "./context.js";
import { E164, dialpadError, dropConnection, readBody, sendJson } from "./http.js";
import { dialpadJwt } from "./signing.js";
import type { SimDialpadAccount, SimLogEntry } from "./types.js";

type DialpadStatus = "pending" | "success" | "failed";

interface Hook {
  id: number;
  hookUrl: string;
  secret: string | null;
}

interface Subscription {
  id: number;
  hook: Hook;
  direction: "all" | "inbound" | "outbound";
  enabled: boolean;
  status: boolean;
}

interface Account {
  label: string;
  config: SimDialpadAccount;
  userId: number;
  hooks: Map<number, Hook>;
  subscriptions: Subscription[];
}

// Dialpad ids are large integers; stay below 2^53 so they survive JSON as numbers.
const ID_BASE = 5_066_549_580_791_808;
const DEFAULT_FROM = "+14155550100";

/** A Dialpad user or group number given without country code, read as US when allowed. */
function normalise(n: string, infer: boolean): string | null {
  if (E164.test(n)) return n;
  if (!infer) return null;
  const digits = n.replace(/[\s().-]/g, "");
  if (/^\d{10}$/.test(digits)) return "+1" + digits;
  if (/^1\d{10}$/.test(digits)) return "+" + digits;
  return null;
}

/** Dialpad's endpoints of the simulator. */
export class DialpadApi {
  private readonly byToken = new Map<string, Account>();
  private nextId = 0;

  constructor(
    private readonly ctx: SimContext,
    accounts: readonly SimDialpadAccount[],
  ) {
    accounts.forEach((config, i) => {
      this.byToken.set(config.apiToken, {
        label: `dialpad-${i + 1}`,
        config,
        userId: ID_BASE + 1_000 + i,
        hooks: new Map(),
        subscriptions: [],
      });
    });
  }

  private id(): number {
    this.nextId += 1;
    return ID_BASE + 1_000_000 + this.nextId;
  }

  private account(req: IncomingMessage, query: URLSearchParams): Account | null {
    const h = req.headers.authorization;
    const token = h?.startsWith("Bearer ") ? h.slice(7).trim() : query.get("apikey");
    return token ? (this.byToken.get(token) ?? null) : null;
  }

  /** Handles a request under /api/v2/; false when the path is not one of ours. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) {
    const route =
      path === "/api/v2/sms"
        ? "sms"
        : path === "/api/v2/webhooks" || path.startsWith("/api/v2/webhooks/")
          ? "webhooks"
          : path === "/api/v2/subscriptions/sms"
            ? "subscriptions"
            : null;
    if (!route) return false;
    const raw = req.method === "POST" ? await readBody(req) : "";
    const account = this.account(req, query);
    if (route === "sms" && req.method === "POST") {
      await this.send(req, res, account, raw);
      return true;
    }
    if (!account) {
      sendJson(res, 401, dialpadError(401, "unauthorized", "Invalid API key"));
      return true;
    }
    if (route === "webhooks") this.webhooks(req, res, account, path, raw);
    else if (route === "subscriptions" && req.method === "POST") this.subscribe(res, account, raw);
    else sendJson(res, 405, dialpadError(405, "methodNotAllowed", "Method not allowed"));
    return true;
  }

  private async send(
    req: IncomingMessage,
    res: ServerResponse,
    account: Account | null,
    raw: string,
  ) {
    const { ctx } = this;
    let input: Record<string, unknown> = {};
    let parsed = true;
    try {
      const v: unknown = JSON.parse(raw);
      if (typeof v === "object" && v !== null && !Array.isArray(v)) {
        input = v as Record<string, unknown>;
      } else parsed = false;
    } catch {
      parsed = false;
    }
    const text = typeof input.text === "string" ? input.text : "";
    const toList = Array.isArray(input.to_numbers) ? (input.to_numbers as unknown[]) : [];
    const infer = input.infer_country_code === true;
    const segments = text === "" ? 0 : countSegments(text).segments;
    const fromRaw = typeof input.from_number === "string" ? input.from_number : null;
    const label = account?.label ?? "unknown";
    // One log entry per recipient: each is a separate SMS at the carrier.
    const log = (
      outcome: SimLogEntry["outcome"],
      response: SimLogEntry["response"],
      code: number | string | null,
      id: number | null = null,
      tos: readonly unknown[] = toList,
    ) => {
      for (const to of tos.length > 0 ? tos : [""]) {
        ctx.log.add({
          provider: "dialpad",
          account: label,
          id: id === null ? null : String(id),
          to: String(to),
          from: fromRaw,
          body: text,
          segments,
          outcome,
          response,
          code,
        });
      }
    };
    const reject = (status: number, reason: string, message: string) => {
      log("rejected", status, reason);
      sendJson(res, status, dialpadError(status, reason, message));
    };

    if (!account) return reject(401, "unauthorized", "Invalid API key");
    let b = ctx.behaviour;
    if (b.latencyMs > 0) {
      await sleep(b.latencyMs);
      b = ctx.behaviour;
    }
    if (b.dialpadRatePerMinute !== null) {
      if (
        !ctx.dialpadWindow.tryTake(
          account.config.apiToken,
          b.dialpadRatePerMinute,
          b.dialpadWindowMs,
        )
      ) {
        // 403 is what the seed incident saw: deliberately the same body as a permission error.
        return b.dialpadLimitStatus === 403
          ? reject(403, "forbidden", "You do not have permission to perform this action.")
          : reject(429, "rateLimitExceeded", "Rate limit exceeded");
      }
    }
    const faults = drawFaults(b, ctx.random);
    if (faults.tooMany) return reject(429, "rateLimitExceeded", "Rate limit exceeded");
    if (faults.drop === "before") {
      log("rejected", "dropped", null);
      return dropConnection(req, res);
    }
    if (faults.serverError === "before") return reject(500, "backendError", "Internal error");

    if (!parsed) return reject(400, "badRequest", "Request body must be a JSON object");
    if (text === "" && input.media === undefined) {
      return reject(400, "badRequest", "Either text or media is required");
    }
    if (toList.length === 0 || toList.length > 10) {
      return reject(400, "badRequest", "to_numbers must list 1 to 10 phone numbers");
    }
    const tos: string[] = [];
    for (const t of toList) {
      const n = typeof t === "string" ? normalise(t, infer) : null;
      if (!n) return reject(400, "badRequest", `Invalid phone number: ${String(t)}`);
      tos.push(n);
    }
    const from = fromRaw === null ? DEFAULT_FROM : normalise(fromRaw, infer);
    if (!from) return reject(400, "badRequest", `Invalid from_number: ${fromRaw}`);
    for (const to of tos) {
      const rule = matchRule(ctx.rules.create, to);
      if (rule) {
        log("rejected", rule.status ?? 400, rule.code, null, tos);
        const reason = String(rule.code);
        return sendJson(
          res,
          rule.status ?? 400,
          dialpadError(rule.status ?? 400, reason, `Simulated error ${reason}`),
        );
      }
    }

    const id = this.id();
    const created = ctx.now();
    for (const to of tos) {
      const rule = matchRule(ctx.rules.delivery, to);
      this.schedule(account, id, created, from, to, rule ? String(rule.code) : null);
    }
    if (faults.timeout) return log("created", "timeout", null, id, tos);
    if (faults.drop === "after") {
      log("created", "dropped", null, id, tos);
      return dropConnection(req, res);
    }
    if (faults.serverError === "after") {
      log("created", 500, "backendError", id, tos);
      return sendJson(res, 500, dialpadError(500, "backendError", "Internal error"));
    }
    log("created", 200, null, id, tos);
    sendJson(res, 200, {
      contact_id: String(account.userId + 500_000),
      created_date: created,
      device_type: "public_api",
      direction: "outbound",
      from_number: from,
      id,
      message_delivery_result: null,
      message_status: "pending",
      target_id: account.userId,
      target_type: "user",
      text,
      to_numbers: tos,
      user_id: account.userId,
    });
  }

  /** Plans one recipient's SMS events: `pending` (optional) then `success` or `failed`. */
  private schedule(
    account: Account,
    id: number,
    created: number,
    from: string,
    to: string,
    failCode: string | null,
  ) {
    const final: DialpadStatus = failCode === null ? "success" : "failed";
    const first = this.ctx.behaviour.sentCallback;
    const steps = eventOrder<DialpadStatus>(this.ctx, "pending", final).map(({ status }) => {
      const payload = {
        id,
        created_date: created,
        direction: "outbound",
        from_number: from,
        to_number: [to],
        message_status: status,
        message_delivery_result: status === "pending" ? null : (failCode ?? "accepted"),
        mms: false,
        is_internal: false,
        sender_id: account.userId,
        target: {
          id: account.userId,
          type: "user",
          name: "Simulator User",
          phone_number: from,
        },
        contact: { id: String(account.userId + 500_000), name: to, phone_number: to },
      };
      // A subscription without `status: true` only hears of the message once, when it is sent.
      const initial = status === "pending" || !first;
      return () => this.emit(account, payload, initial);
    });
    this.ctx.events.schedule(this.ctx.behaviour.callbackDelayMs, steps);
  }

  private async emit(account: Account, payload: Record<string, unknown>, initial: boolean) {
    const targets: { url: string; secret: string | null }[] = [];
    if (account.config.webhookUrl) {
      targets.push({
        url: account.config.webhookUrl,
        secret: account.config.webhookSecret ?? null,
      });
    }
    for (const s of account.subscriptions) {
      if (!s.enabled || s.direction === "inbound" || (!s.status && !initial)) continue;
      targets.push({ url: s.hook.hookUrl, secret: s.hook.secret });
    }
    if (targets.length === 0) return;
    const event = { ...payload, event_timestamp: this.ctx.now() };
    const policy = retryPolicy(this.ctx.behaviour);
    await Promise.all(
      targets.map(async (t) => {
        const body = t.secret ? await dialpadJwt(event, t.secret) : JSON.stringify(event);
        const type = t.secret ? "application/jwt" : "application/json";
        await this.ctx.poster.post(t.url, { "content-type": type }, body, policy);
      }),
    );
  }

  private webhooks(
    req: IncomingMessage,
    res: ServerResponse,
    account: Account,
    path: string,
    raw: string,
  ) {
    const view = (h: Hook) => ({
      id: h.id,
      hook_url: h.hookUrl,
      signature: h.secret ? { algo: "HS256", secret: h.secret, type: "jwt" } : null,
    });
    if (path !== "/api/v2/webhooks") {
      const hook = account.hooks.get(Number(path.slice("/api/v2/webhooks/".length)));
      if (!hook) return sendJson(res, 404, dialpadError(404, "notFound", "Webhook not found"));
      if (req.method === "GET") return sendJson(res, 200, view(hook));
      if (req.method !== "DELETE") {
        return sendJson(res, 405, dialpadError(405, "methodNotAllowed", "Method not allowed"));
      }
      account.hooks.delete(hook.id);
      account.subscriptions = account.subscriptions.filter((s) => s.hook !== hook);
      return sendJson(res, 200, view(hook));
    }
    if (req.method === "GET") {
      return sendJson(res, 200, { items: [...account.hooks.values()].map(view) });
    }
    if (req.method !== "POST") {
      return sendJson(res, 405, dialpadError(405, "methodNotAllowed", "Method not allowed"));
    }
    const o = parseObject(raw);
    if (!o || typeof o.hook_url !== "string" || !/^https?:\/\//.test(o.hook_url)) {
      return sendJson(res, 400, dialpadError(400, "badRequest", "hook_url: a URL is required"));
    }
    if (o.secret !== undefined && typeof o.secret !== "string") {
      return sendJson(res, 400, dialpadError(400, "badRequest", "secret: must be a string"));
    }
    const hook: Hook = { id: this.id(), hookUrl: o.hook_url, secret: o.secret || null };
    account.hooks.set(hook.id, hook);
    sendJson(res, 200, view(hook));
  }

  private subscribe(res: ServerResponse, account: Account, raw: string) {
    const o = parseObject(raw);
    const hook = o ? account.hooks.get(Number(o.endpoint_id)) : undefined;
    if (!o || !hook) {
      return sendJson(res, 400, dialpadError(400, "badRequest", "endpoint_id: unknown webhook"));
    }
    if (o.direction !== "all" && o.direction !== "inbound" && o.direction !== "outbound") {
      return sendJson(
        res,
        400,
        dialpadError(400, "badRequest", "direction: one of all, inbound, outbound"),
      );
    }
    const sub: Subscription = {
      id: this.id(),
      hook,
      direction: o.direction,
      enabled: o.enabled !== false,
      status: o.status === true,
    };
    account.subscriptions.push(sub);
    sendJson(res, 200, {
      id: sub.id,
      direction: sub.direction,
      enabled: sub.enabled,
      status: sub.status,
      webhook: {
        id: hook.id,
        hook_url: hook.hookUrl,
        signature: hook.secret ? { algo: "HS256", secret: hook.secret, type: "jwt" } : null,
      },
    });
  }
}

function parseObject(raw: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(raw);
    return typeof v === "object" && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
