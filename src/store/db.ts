/**
 * The one interface both engines implement: PGlite (embedded, in process) and a PostgreSQL
 * server through `pg`. Everything above this speaks plain parameterised SQL to it.
 */
import { SmsqError } from "../errors.js";

export type Row = Record<string, unknown>;

/** Runs SQL; `query` takes one statement with `$n` parameters, `exec` a parameterless script. */
export interface Queryable {
  query<T extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: "pglite" | "postgres";
  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

// SQLSTATE classes and socket errors that mean "the database is not reachable right now",
// as opposed to a bug in a query: 08 connection exception, 57P0x admin shutdown / cannot
// connect now, 53300 too many connections.
const UNAVAILABLE_SQLSTATES = ["57P01", "57P02", "57P03", "53300"];
const UNAVAILABLE_ERRNOS = [
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
];

/**
 * The connection broke while COMMIT was in flight: the transaction may or may not have
 * committed. Unlike a failure before COMMIT (rolled back by the server), the caller cannot say
 * "nothing was stored".
 */
export class CommitUnknownError extends Error {
  constructor(cause: unknown) {
    super("the store became unreachable while committing; the outcome is unknown", { cause });
    this.name = "CommitUnknownError";
  }
}

/** True when an error means the store cannot be reached (retry later), not a faulty query. */
export function isUnavailableError(e: unknown): boolean {
  if (typeof e !== "object" || e === null) return false;
  if (e instanceof CommitUnknownError) return true;
  const err = e as { code?: unknown; message?: unknown; errors?: unknown };
  if (err instanceof SmsqError) return err.code === "store_unavailable";
  const code = typeof err.code === "string" ? err.code : "";
  if (code.startsWith("08") || UNAVAILABLE_SQLSTATES.includes(code)) return true;
  if (UNAVAILABLE_ERRNOS.includes(code)) return true;
  const message = typeof err.message === "string" ? err.message : "";
  if (
    /Connection terminated|connection timeout|Client has encountered a connection error|not queryable|Connection ended|Query read timeout|timeout exceeded when trying to connect/i.test(
      message,
    )
  ) {
    return true;
  }
  // AggregateError from a connect to several addresses (IPv4 + IPv6).
  if (Array.isArray(err.errors)) return err.errors.some(isUnavailableError);
  return false;
}

/** Wraps an unavailable-store error into the SmsqError the API answers 503 with. */
export function toStoreError(e: unknown): unknown {
  if (e instanceof CommitUnknownError) {
    return new SmsqError(
      "store_unavailable",
      "the message store became unreachable while committing: the request may have been stored. " +
        "Send it again with the same Idempotency-Key to get what was stored",
      undefined,
      { cause: e },
    );
  }
  if (isUnavailableError(e) && !(e instanceof SmsqError)) {
    return new SmsqError(
      "store_unavailable",
      "the message store is unavailable; nothing was stored, try again",
      undefined,
      { cause: e },
    );
  }
  return e;
}
