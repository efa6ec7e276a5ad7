/**
 * A typed client for smsq's HTTP API: `import { SmsqClient } from "smsq/client"`.
 *
 * It runs wherever `fetch` does (Node 20, browsers, workers) and imports nothing of the server
 * at run time: its types are the server's own schemas' static types (see ./types.ts).
 */
import { SmsqApiError } from "./errors.js";
import { Transport, type RetryOptions } from "./transport.js";
import type {
  BatchItemInput,
  BatchResponse,
  BatchResultItem,
  ErrorBody,
  ListOptions,
  Message,
  MessageDetail,
  MessageInput,
  MessagePage,
  RequeueInput,
  RequeueResult,
  Suppression,
  SuppressionInput,
  SuppressionListOptions,
  SuppressionPage,
} from "./types.js";

export { SmsqApiError, SmsqNetworkError } from "./errors.js";
export { parseRetryAfter, type RetryOptions } from "./transport.js";
export type * from "./types.js";

/** The most items `batch()` takes in one call (the server's `MAX_BATCH`; a test checks). */
export const MAX_BATCH_SIZE = 1000;

export interface SmsqClientOptions {
  /** Where smsq answers, e.g. `http://127.0.0.1:8080` (a path prefix is kept). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`; leave out when the server has no API keys. */
  apiKey?: string | null;
  /** Per request, in ms (default 30,000); 0 for none. A timeout throws SmsqNetworkError. */
  timeout?: number;
  /** A fetch implementation (default: the global `fetch`). */
  fetch?: typeof fetch;
  /** Headers added to every request (e.g. a User-Agent). */
  headers?: Record<string, string>;
  /**
   * Wait out `429 queue_full` and `503 store_unavailable` answers as their `Retry-After` says,
   * and send again. Off by default: the error is thrown at once.
   * `true` is `{ attempts: 5, maxDelayMs: 30000 }`. With retries on, `send()` and `batch()` give
   * every message without an idempotency key one of their own (`smsq-auto-…`): a 503 can come
   * after the store committed (the connection broke while committing), and the retry must then
   * answer the stored message rather than store it twice.
   */
  retry?: boolean | RetryOptions;
}

/** Per call. */
export interface CallOptions {
  /** Aborts the request (and any wait between retries); the abort's reason is thrown. */
  signal?: AbortSignal;
}

export interface SendOptions extends CallOptions {
  /**
   * Sent as the `Idempotency-Key` header (up to 255 characters): the same key with the same
   * message answers the message stored the first time; with another message, a 409
   * `idempotency_conflict` error. Keys are scoped per API key.
   */
  idempotencyKey?: string;
}

/** True for a `batch()` entry that was refused (it holds `error`, not a message). */
export function isBatchError(item: BatchResultItem): item is ErrorBody {
  return "error" in item;
}

const path = (s: string) => encodeURIComponent(s);

/** A random idempotency key (128 bits; getRandomValues works outside secure contexts too). */
function autoKey(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return `smsq-auto-${Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")}`;
}

/** GET/POST/DELETE /v1/suppressions. */
export class SuppressionsApi {
  constructor(private readonly t: Transport) {}

  /** One page of suppressed numbers, in number order. */
  list(query: SuppressionListOptions = {}, opts: CallOptions = {}): Promise<SuppressionPage> {
    return this.t.request("GET", "/v1/suppressions", {
      query: {
        limit: query.limit === undefined ? undefined : String(query.limit),
        cursor: query.cursor,
      },
      signal: opts.signal,
    });
  }

  /** Suppresses a number (any format; stored in E.164). Adding one already there changes nothing. */
  add(input: SuppressionInput, opts: CallOptions = {}): Promise<Suppression> {
    return this.t.request("POST", "/v1/suppressions", { body: input, signal: opts.signal });
  }

  /** Takes a number off the list; SmsqApiError `not_found` (404) when it is not on it. */
  async remove(phone: string, opts: CallOptions = {}): Promise<void> {
    await this.t.request("DELETE", `/v1/suppressions/${path(phone)}`, { signal: opts.signal });
  }
}

/**
 * The smsq API. Every method throws SmsqApiError for an error answer (with the API's `status`,
 * `code`, `message` and `field`) and SmsqNetworkError when no answer came.
 */
export class SmsqClient {
  private readonly t: Transport;
  private readonly autoKeys: boolean;
  /** The suppression list. */
  readonly suppressions: SuppressionsApi;

  constructor(options: SmsqClientOptions) {
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== "function") {
      throw new TypeError("SmsqClient: no fetch available; pass options.fetch");
    }
    const retry =
      options.retry === undefined || options.retry === false
        ? null
        : {
            attempts: 5,
            maxDelayMs: 30_000,
            ...(options.retry === true ? {} : options.retry),
          };
    this.t = new Transport({
      baseUrl: options.baseUrl.replace(/\/+$/, ""),
      apiKey: options.apiKey ?? null,
      timeout: options.timeout ?? 30_000,
      // Called unbound: some runtimes refuse `fetch` called as a method of another object.
      fetch: (input, init) => fetchImpl(input, init),
      headers: options.headers ?? {},
      retry,
    });
    this.autoKeys = retry !== null;
    this.suppressions = new SuppressionsApi(this.t);
  }

  /** POST /v1/messages: submits one message; it comes back `queued` (or `scheduled`). */
  send(message: MessageInput, opts: SendOptions = {}): Promise<Message> {
    const headers: Record<string, string> = {};
    const key = opts.idempotencyKey ?? (this.autoKeys ? autoKey() : undefined);
    if (key !== undefined) headers["idempotency-key"] = key;
    return this.t.request("POST", "/v1/messages", { body: message, headers, signal: opts.signal });
  }

  /**
   * POST /v1/messages/batch: up to MAX_BATCH_SIZE messages in one transaction. Each entry of
   * `data` is the stored message or that item's error (see isBatchError), in input order;
   * `created` and `replayed` count what was new and what was already stored under its key.
   */
  batch(messages: readonly BatchItemInput[], opts: CallOptions = {}): Promise<BatchResponse> {
    const items = this.autoKeys
      ? messages.map((m) =>
          m.idempotencyKey === undefined ? { ...m, idempotencyKey: autoKey() } : m,
        )
      : messages;
    return this.t.request("POST", "/v1/messages/batch", {
      body: { messages: items },
      signal: opts.signal,
    });
  }

  /** GET /v1/messages/:id: the message with its attempts and events. */
  get(id: string, opts: CallOptions = {}): Promise<MessageDetail> {
    return this.t.request("GET", `/v1/messages/${path(id)}`, { signal: opts.signal });
  }

  /** GET /v1/messages: one page, newest first; pass `nextCursor` back as `cursor`. */
  list(query: ListOptions = {}, opts: CallOptions = {}): Promise<MessagePage> {
    const { status, since, limit } = query;
    return this.t.request("GET", "/v1/messages", {
      query: {
        status: typeof status === "string" ? status : status?.join(","),
        to: query.to,
        since: since instanceof Date ? since.toISOString() : since,
        limit: limit === undefined ? undefined : String(limit),
        cursor: query.cursor,
      },
      signal: opts.signal,
    });
  }

  /** Every message matching `query`, newest first, fetching page after page as it is iterated. */
  async *listAll(query: ListOptions = {}, opts: CallOptions = {}): AsyncGenerator<Message> {
    let cursor = query.cursor;
    do {
      const page = await this.list({ ...query, cursor }, opts);
      yield* page.data;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** POST /v1/messages/:id/cancel: cancels a scheduled or queued message (409 `invalid_state` otherwise). */
  cancel(id: string, opts: CallOptions = {}): Promise<Message> {
    return this.t.request("POST", `/v1/messages/${path(id)}/cancel`, { signal: opts.signal });
  }

  /** POST /v1/messages/:id/retry: puts a failed, expired or undelivered message back in the queue. */
  retry(id: string, opts: CallOptions = {}): Promise<Message> {
    return this.t.request("POST", `/v1/messages/${path(id)}/retry`, { signal: opts.signal });
  }

  /** POST /v1/messages/requeue: requeues dead letters by filter (`dryRun` to only count them). */
  requeue(filter: RequeueInput = {}, opts: CallOptions = {}): Promise<RequeueResult> {
    return this.t.request("POST", "/v1/messages/requeue", { body: filter, signal: opts.signal });
  }
}

/** True for an error the API answered with `code` (e.g. `isApiError(e, "not_found")`). */
export function isApiError(e: unknown, code?: SmsqApiError["code"]): e is SmsqApiError {
  return e instanceof SmsqApiError && (code === undefined || e.code === code);
}
