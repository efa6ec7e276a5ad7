/**
 * The HTTP client provider adapters share. It uses `node:http`/`node:https` with keep-alive
 * agents rather than the global fetch (which costs ~0.45 ms CPU per request here), and it tells
 * the caller *where* a failure happened: before the request could reach the provider (phase
 * `connect`: DNS, refused, connect timeout, TLS handshake — safe to resend) or after it was
 * written (phase `sent`: a timeout or reset may hide an accepted message — ambiguous).
 */
import http, { type IncomingHttpHeaders } from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import type { SendResult } from "./types.js";

/** Responses larger than this are refused: provider answers are a few KiB. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

export type HttpPhase = "connect" | "sent";

/** A failed HTTP exchange, with whether the request may have reached the provider. */
export class ProviderHttpError extends Error {
  readonly phase: HttpPhase;
  /** ECONNREFUSED, ECONNRESET, ENOTFOUND, ETIMEDOUT (connect), `timeout`, `aborted`, … */
  readonly code: string;
  /** True when the request went out on a pooled keep-alive socket (stale-socket resets). */
  readonly reusedSocket: boolean;

  constructor(
    phase: HttpPhase,
    code: string,
    message: string,
    reusedSocket = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ProviderHttpError";
    this.phase = phase;
    this.code = code;
    this.reusedSocket = reusedSocket;
  }
}

export interface HttpRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
  /** Time allowed to get a connected socket (pool wait, DNS, TCP, TLS). */
  connectTimeoutMs: number;
  /** Time allowed for the whole exchange, from the call to the last response byte. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** An agent from {@link createAgent} matching the URL's protocol; a shared one otherwise. */
  agent?: http.Agent;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface AgentOptions {
  /** Concurrent sockets per host (default 256). */
  maxSockets?: number;
  /** Idle pooled sockets are closed after this (default 4000 ms), before servers drop them. */
  idleTimeoutMs?: number;
}

/** Creates a keep-alive agent for `http:` or `https:` URLs. */
export function createAgent(protocol: "http:" | "https:", opts: AgentOptions = {}): http.Agent {
  const o = {
    keepAlive: true,
    maxSockets: opts.maxSockets ?? 256,
    // The agent applies `timeout` to idle pooled sockets, which it then destroys; a short one
    // limits resets from writing on a socket the server already closed (which look ambiguous).
    timeout: opts.idleTimeoutMs ?? 4000,
    scheduling: "lifo" as const,
  };
  return protocol === "https:" ? new https.Agent(o) : new http.Agent(o);
}

const shared = new Map<string, http.Agent>();
function sharedAgent(protocol: "http:" | "https:"): http.Agent {
  let a = shared.get(protocol);
  if (!a) shared.set(protocol, (a = createAgent(protocol)));
  return a;
}

interface Target {
  protocol: "http:" | "https:";
  options: {
    protocol: string;
    hostname: string;
    port: string | number;
    path: string;
    auth?: string;
  };
}

// Parsed request targets by URL string: an adapter calls the same few URLs thousands of times
// a second, and parsing each (then converting the URL to request options) showed in profiles.
// URLs with a query (lookups, one per recipient) are parsed each time: caching them would only
// push the hot ones out.
const targets = new Map<string, Target>();

function target(raw: string): Target {
  const hit = targets.get(raw);
  if (hit) return hit;
  const t = parseTarget(raw);
  if (raw.includes("?")) return t;
  if (targets.size >= 256) targets.clear();
  targets.set(raw, t);
  return t;
}

function parseTarget(raw: string): Target {
  const u = new URL(raw);
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(u.protocol);
  const t: Target = {
    protocol: u.protocol,
    options: {
      protocol: u.protocol,
      // IPv6 literals come bracketed from URL; the request wants them bare.
      hostname: u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname,
      port: u.port || (u.protocol === "https:" ? 443 : 80),
      path: u.pathname + u.search,
    },
  };
  if (u.username || u.password) {
    t.options.auth = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  }
  return t;
}

/** Performs one HTTP request and reads the whole (bounded) response; throws ProviderHttpError. */
export function request(opts: HttpRequest): Promise<HttpResponse> {
  return new Promise<HttpResponse>((resolve, reject) => {
    let phase: HttpPhase = "connect";
    let settled = false;
    let req: http.ClientRequest | null = null;
    const timers: NodeJS.Timeout[] = [];

    const settle = () => {
      settled = true;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener("abort", onAbort);
    };
    const fail = (code: string, message: string, cause?: unknown) => {
      if (settled) return;
      settle();
      const reused = req?.reusedSocket ?? false;
      // Give up with a reset, not a FIN: a request written to a connection the server has not
      // accepted yet (its accept queue full, e.g. a stalled event loop) would otherwise still
      // be delivered when the server catches up, seconds later — after the settle time and the
      // reconciling lookup, which then resends it (seen: creates 15 s after a timeout, SYN-ACK
      // retries at 1, 3, 7, 15 s). A reset drops the unread request on the server side.
      const socket = req?.socket as (Socket & { resetAndDestroy?: () => void }) | null | undefined;
      if (phase === "sent" && socket && !socket.destroyed) socket.resetAndDestroy?.();
      req?.destroy();
      reject(new ProviderHttpError(phase, code, message, reused, { cause }));
    };
    function onAbort() {
      const reason = opts.signal?.reason as { name?: string } | undefined;
      const timedOut = reason?.name === "TimeoutError";
      fail(timedOut ? "timeout" : "aborted", timedOut ? "timed out (caller)" : "aborted");
    }

    let url: Target;
    try {
      url = target(opts.url);
    } catch (e) {
      fail("EINVALIDURL", "invalid provider URL", e);
      return;
    }
    if (opts.signal?.aborted) {
      onAbort();
      return;
    }
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    timers.push(
      setTimeout(() => fail("timeout", `no response within ${opts.timeoutMs} ms`), opts.timeoutMs),
    );
    const connectTimer = setTimeout(
      () => fail("ETIMEDOUT", `no connection within ${opts.connectTimeoutMs} ms`),
      opts.connectTimeoutMs,
    );
    timers.push(connectTimer);
    const connected = () => {
      phase = "sent";
      clearTimeout(connectTimer);
    };

    const secure = url.protocol === "https:";
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.body !== undefined) headers["content-length"] = String(Buffer.byteLength(opts.body));
    try {
      req = (secure ? https : http).request({
        ...url.options,
        method: opts.method,
        headers,
        agent: opts.agent ?? sharedAgent(url.protocol),
      });
    } catch (e) {
      // e.g. an agent of the wrong protocol: nothing was sent.
      fail("EREQUEST", e instanceof Error ? e.message : String(e), e);
      return;
    }
    const r = req;
    r.on("socket", (socket: Socket) => {
      // A pooled socket is already connected (and through TLS); a new one is not until
      // `connect` (http) or `secureConnect` (https): until then nothing can have been sent.
      if (r.reusedSocket) connected();
      else if (secure) socket.once("secureConnect", connected);
      else if (socket.connecting) socket.once("connect", connected);
      else connected();
    });
    r.on("error", (e: NodeJS.ErrnoException) => fail(e.code ?? "EUNKNOWN", e.message, e));
    r.on("response", (res) => {
      connected();
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE_BYTES) {
          fail("ERESPONSETOOLARGE", `response larger than ${MAX_RESPONSE_BYTES} bytes`);
          return;
        }
        chunks.push(c);
      });
      res.on("error", (e: NodeJS.ErrnoException) => fail(e.code ?? "ECONNRESET", e.message, e));
      res.on("close", () => {
        if (!res.complete) fail("ECONNRESET", "connection closed during the response");
      });
      res.on("end", () => {
        if (settled) return;
        settle();
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        });
      });
    });
    r.end(opts.body);
  });
}

/** Milliseconds a `Retry-After` header (seconds or HTTP-date) asks to wait; undefined if none. */
export function parseRetryAfter(
  value: string | string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // Otherwise only an HTTP-date (it has a weekday and month name); Date.parse takes "-5" too.
  if (!/[a-z]{3}/i.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Removes every occurrence of the given secrets (and bodies) from a text meant for logs. */
export function scrub(text: string, secrets: readonly (string | null | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    // Very short strings would match inside ordinary words; callers pass tokens and bodies.
    if (s && s.length >= 4) out = out.split(s).join("[redacted]");
  }
  return out.length > 500 ? out.slice(0, 500) + "…" : out;
}

/** The SendResult for a call that threw: connect-phase failures are not ambiguous. */
export function failureFromError(
  e: unknown,
  provider: string,
  secrets: readonly (string | null | undefined)[],
): SendResult {
  if (e instanceof ProviderHttpError) {
    const before = e.phase === "connect";
    return {
      ok: false,
      httpStatus: null,
      code: e.code,
      message: scrub(
        `${provider}: ${e.message} (${before ? "before sending" : "after sending; outcome unknown"})`,
        secrets,
      ),
      ambiguous: !before,
      retryable: true,
    };
  }
  // A bug in the adapter: we cannot tell how far the call got, so it is ambiguous.
  const message = e instanceof Error ? e.message : String(e);
  return {
    ok: false,
    httpStatus: null,
    code: "exception",
    message: scrub(`${provider}: ${message}`, secrets),
    ambiguous: true,
    retryable: true,
  };
}

/** A failed call the provider answered: the Retry-After header, if any, is kept. */
export function httpFailure(
  res: HttpResponse,
  code: string,
  message: string,
  retryable: boolean,
  ambiguous: boolean,
): Extract<SendResult, { ok: false }> {
  const retryAfterMs = parseRetryAfter(res.headers["retry-after"]);
  return {
    ok: false,
    httpStatus: res.status,
    code,
    message,
    ambiguous,
    retryable,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}

/** A failure decided before any call: nothing was sent and resending cannot help. */
export function permanentFailure(code: string, message: string): SendResult {
  return { ok: false, httpStatus: null, code, message, ambiguous: false, retryable: false };
}

/** JSON.parse that returns undefined instead of throwing. */
export function tryJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The object a JSON value is, or an empty one. */
export function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : {};
}
