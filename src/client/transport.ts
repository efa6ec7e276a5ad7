/**
 * One HTTP exchange with smsq over `fetch`: auth, JSON, a timeout, API errors as SmsqApiError,
 * and (when asked) waiting out `429`/`503` answers as their `Retry-After` says. Browser-safe:
 * no Node modules.
 */
import { SmsqApiError, SmsqNetworkError } from "./errors.js";

/** Waiting out `429 queue_full` and `503 store_unavailable` (see SmsqClientOptions.retry). */
export interface RetryOptions {
  /** Requests in all, the first included (default 5). */
  attempts?: number;
  /** The longest wait between two of them, in ms; a longer `Retry-After` is not waited (default 30,000). */
  maxDelayMs?: number;
}

export interface TransportOptions {
  baseUrl: string;
  apiKey?: string | null;
  /** Per request, in ms; 0 for none. */
  timeout: number;
  fetch: typeof fetch;
  headers: Record<string, string>;
  retry: Required<RetryOptions> | null;
}

export interface CallInit {
  query?: Record<string, string | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Seconds from a Retry-After header: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export class Transport {
  constructor(private readonly o: TransportOptions) {}

  /** Sends the request (again after a 429/503 when retries are on) and returns the parsed body. */
  async request<T>(method: string, path: string, init: CallInit = {}): Promise<T> {
    const retry = this.o.retry;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once<T>(method, path, init);
      } catch (e) {
        if (
          !retry ||
          !(e instanceof SmsqApiError) ||
          (e.status !== 429 && e.status !== 503) ||
          attempt >= retry.attempts
        ) {
          throw e;
        }
        // Without a Retry-After: 1 s, 2 s, 4 s, … up to the cap.
        const ms = e.retryAfter !== undefined ? e.retryAfter * 1000 : 1000 * 2 ** (attempt - 1);
        if (ms > retry.maxDelayMs) throw e;
        await sleep(ms, init.signal);
      }
    }
  }

  private async once<T>(method: string, path: string, init: CallInit): Promise<T> {
    let url = this.o.baseUrl + path;
    const params = Object.entries(init.query ?? {}).filter(
      (kv): kv is [string, string] => kv[1] !== undefined,
    );
    if (params.length > 0) url += `?${new URLSearchParams(params).toString()}`;
    const headers: Record<string, string> = { accept: "application/json", ...this.o.headers };
    if (this.o.apiKey) headers.authorization = `Bearer ${this.o.apiKey}`;
    if (init.body !== undefined) headers["content-type"] = "application/json";
    Object.assign(headers, init.headers);

    const timeout = this.o.timeout > 0 ? AbortSignal.timeout(this.o.timeout) : undefined;
    const signals = [init.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    let res: Response;
    let text: string;
    try {
      res = await this.o.fetch(url, {
        method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
        signal,
      });
      text = await res.text();
    } catch (e) {
      // The caller's own abort is theirs to handle: rethrow it as it came.
      if (init.signal?.aborted) throw e;
      if (timeout?.aborted) {
        throw new SmsqNetworkError(
          `${method} ${path}: no answer from smsq at ${this.o.baseUrl} within ${this.o.timeout} ms`,
          { timedOut: true, cause: e },
        );
      }
      const cause = (e as Error).cause as Error | undefined;
      throw new SmsqNetworkError(
        `${method} ${path}: cannot reach smsq at ${this.o.baseUrl} (${cause?.message ?? (e as Error).message})`,
        { cause: e },
      );
    }
    let data: unknown = undefined;
    if (text.length > 0) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    if (!res.ok) {
      throw new SmsqApiError(res.status, data, parseRetryAfter(res.headers.get("retry-after")));
    }
    return data as T;
  }
}
