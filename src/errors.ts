/**
 * One error type for everything smsq reports to a caller. `code` is stable and documented in
 * docs/api.md; `status` is the HTTP status the API answers with; `field` names the input at fault.
 */
export type ErrorCode =
  | "invalid_request"
  | "invalid_json"
  | "unknown_field"
  | "invalid_phone"
  | "invalid_body"
  | "body_too_long"
  | "invalid_date"
  | "invalid_schedule"
  | "invalid_priority"
  | "invalid_metadata"
  | "payload_too_large"
  | "unsupported_media_type"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "idempotency_conflict"
  | "invalid_state"
  | "queue_full"
  | "deadline_unmeetable"
  | "store_unavailable"
  | "config_invalid"
  | "internal";

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_json: 400,
  unknown_field: 400,
  invalid_phone: 400,
  invalid_body: 400,
  body_too_long: 400,
  invalid_date: 400,
  invalid_schedule: 400,
  invalid_priority: 400,
  invalid_metadata: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  idempotency_conflict: 409,
  invalid_state: 409,
  queue_full: 429,
  deadline_unmeetable: 422,
  store_unavailable: 503,
  config_invalid: 500,
  internal: 500,
};

/** The error every smsq module throws for a condition a caller should see. */
export class SmsqError extends Error {
  readonly isSmsqError = true;
  readonly code: ErrorCode;
  readonly status: number;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, field?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SmsqError";
    this.code = code;
    this.status = STATUS[code];
    this.field = field;
  }

  /** The JSON body the API answers with. */
  toBody(): { error: { code: ErrorCode; message: string; field?: string } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.field === undefined ? {} : { field: this.field }),
      },
    };
  }
}

/** True for an SmsqError, even one from another copy of the package. */
export function isSmsqError(e: unknown): e is SmsqError {
  return (
    typeof e === "object" && e !== null && (e as { isSmsqError?: unknown }).isSmsqError === true
  );
}

/** Exhaustiveness guard for `switch` statements. */
export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${String(x)}`);
}
