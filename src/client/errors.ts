/** What the client throws: the API's own errors, and failures to get an answer at all. */
import type { ErrorCode } from "../errors.js";

/** An error answer from the API: `{"error": {"code", "message", "field"}}` with its HTTP status. */
export class SmsqApiError extends Error {
  override readonly name = "SmsqApiError";
  /** The HTTP status (400, 401, 404, 409, 429, …). */
  readonly status: number;
  /**
   * The API's stable error code (see docs/api.md), or `http_<status>` when the answer was not an
   * smsq error body (e.g. a proxy's 502 page).
   */
  readonly code: ErrorCode | `http_${number}`;
  /** The input at fault, when the API names one (`to`, `messages[3].body`, `Idempotency-Key`). */
  readonly field: string | undefined;
  /** Seconds from the `Retry-After` header (429 and 503 answers), when there was one. */
  readonly retryAfter: number | undefined;
  /** The parsed answer body (or its text when it was not JSON). */
  readonly body: unknown;

  constructor(status: number, body: unknown, retryAfter?: number) {
    const e = errorInfo(body);
    super(
      e
        ? e.message
        : `HTTP ${status}${typeof body === "string" && body ? `: ${body.slice(0, 200)}` : ""}`,
    );
    this.status = status;
    this.code = e ? (e.code as ErrorCode) : `http_${status}`;
    this.field = e?.field;
    this.retryAfter = retryAfter;
    this.body = body;
  }
}

/** No answer: the server could not be reached, the connection broke, or the timeout passed. */
export class SmsqNetworkError extends Error {
  override readonly name = "SmsqNetworkError";
  /** True when the request was given up because `timeout` passed. */
  readonly timedOut: boolean;

  constructor(message: string, options: { timedOut?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.timedOut = options.timedOut ?? false;
  }
}

function errorInfo(body: unknown): { code: string; message: string; field?: string } | null {
  if (typeof body !== "object" || body === null) return null;
  const e = (body as { error?: unknown }).error;
  if (typeof e !== "object" || e === null) return null;
  const { code, message, field } = e as Record<string, unknown>;
  if (typeof code !== "string" || typeof message !== "string") return null;
  return typeof field === "string" ? { code, message, field } : { code, message };
}
