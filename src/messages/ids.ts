import { randomBytes } from "node:crypto";

// Crockford base32: sortable, no ambiguous letters.
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

function encodeTime(ms: number): string {
  let out = "";
  let t = ms;
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[t % 32] + out;
    t = Math.floor(t / 32);
  }
  return out;
}

/**
 * A new message id: `msg_` + 10 characters of creation time + 16 random characters (a ULID).
 * Ids sort by creation time, so the list API pages by id alone and `since` becomes an id bound.
 */
export function newMessageId(now: number = Date.now()): string {
  const bytes = randomBytes(16);
  let rand = "";
  for (let i = 0; i < 16; i++) rand += ALPHABET[(bytes[i] ?? 0) % 32];
  return `msg_${encodeTime(now)}${rand}`;
}

/** The smallest id that a message created at or after `ms` can have. */
export function lowestIdAt(ms: number): string {
  return `msg_${encodeTime(ms)}`;
}

/** True when `s` has the shape of a message id. */
export function isMessageId(s: string): boolean {
  return /^msg_[0-9A-HJKMNP-TV-Z]{26}$/.test(s);
}
