/**
 * API key check: `Authorization: Bearer <key>` against SMSQ_API_KEYS. Keys are compared as
 * SHA-256 digests with timingSafeEqual, every configured key every time, so neither the key's
 * length nor which key matched shows in the response time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { SmsqError } from "../errors.js";

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();

/** The id under which a key's idempotency keys and messages are stored (never the key). */
export function keyId(key: string): string {
  return "key_" + digest(key).toString("hex").slice(0, 16);
}

/** Used when no API key is configured (local-only mode). */
export const ANONYMOUS = "anonymous";

export class ApiKeys {
  private readonly digests: { d: Buffer; id: string }[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map((k) => ({ d: digest(k), id: keyId(k) }));
  }

  /** True when no key is configured: the API is open and bound to loopback. */
  get open(): boolean {
    return this.digests.length === 0;
  }

  /** Returns the key id for a valid Authorization header, or throws `unauthorized`. */
  authenticate(header: string | undefined): string {
    if (this.open) return ANONYMOUS;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
    if (!m) {
      throw new SmsqError(
        "unauthorized",
        "missing API key: send Authorization: Bearer <key>",
        "Authorization",
      );
    }
    const given = digest(m[1] as string);
    let match: string | null = null;
    for (const k of this.digests) {
      if (timingSafeEqual(k.d, given) && match === null) match = k.id;
    }
    if (match === null) throw new SmsqError("unauthorized", "invalid API key", "Authorization");
    return match;
  }
}
