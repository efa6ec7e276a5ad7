/** Parsers for setting values: each returns the value or `{ error }` naming what is wrong. */
import { isKnownRegion } from "../messages/phone.js";

export type Parse<T> = (raw: string) => T | { error: string };

export const int =
  (min: number, max: number): Parse<number> =>
  (raw) => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      return { error: `must be an integer from ${min} to ${max} (got "${raw}")` };
    }
    return n;
  };

export const str: Parse<string> = (raw) => raw;

export const num =
  (min: number, max: number): Parse<number> =>
  (raw) => {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
      return { error: `must be a number from ${min} to ${max} (got "${raw}")` };
    }
    return n;
  };

export const bool: Parse<boolean> = (raw) =>
  raw === "true" || raw === "1"
    ? true
    : raw === "false" || raw === "0"
      ? false
      : { error: `must be true or false (got "${raw}")` };

export const list: Parse<string[]> = (raw) => {
  const items = raw
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
  return items.length > 0 ? items : { error: "must list at least one value when set" };
};

export const shares: Parse<{ normal: number; low: number; cycle: number }> = (raw) => {
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$/.exec(raw);
  const [normal, low, cycle] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  if (!m || cycle < 1 || cycle > 1000 || normal + low > cycle) {
    return {
      error: `must be "normal,low,cycle" with normal + low <= cycle, e.g. "1,1,10" (got "${raw}")`,
    };
  }
  return { normal, low, cycle };
};

export const oneOf =
  <T extends string>(...values: T[]): Parse<T> =>
  (raw) =>
    (values as string[]).includes(raw)
      ? (raw as T)
      : { error: `must be one of ${values.join(", ")} (got "${raw}")` };

export const postgresUrl: Parse<string> = (raw) => {
  try {
    const u = new URL(raw);
    if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") throw new Error();
    return raw;
  } catch {
    return { error: "must be a postgres:// or postgresql:// URL" };
  }
};

export const apiKeys: Parse<string[]> = (raw) => {
  const keys = raw
    .split(",")
    .map((k) => k.trim())
    .filter((k) => k.length > 0);
  if (keys.length === 0) return { error: "must list at least one key when set" };
  const short = keys.findIndex((k) => k.length < 16);
  if (short >= 0) return { error: `key ${short + 1} is shorter than 16 characters` };
  if (keys.some((k) => /\s/.test(k))) return { error: "keys must not contain spaces" };
  return keys;
};

export const region: Parse<string> = (raw) => {
  const r = raw.trim().toUpperCase();
  return isKnownRegion(r)
    ? r
    : { error: `must be an ISO 3166 region code such as US or GB (got "${raw}")` };
};

export const host: Parse<string> = (raw) =>
  /^[A-Za-z0-9.:[\]-]+$/.test(raw)
    ? raw
    : { error: `is not a host name or address (got "${raw}")` };

export const httpUrl: Parse<string> = (raw) => {
  try {
    const u = new URL(raw);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    return raw.replace(/\/+$/, "");
  } catch {
    return { error: `must be an http:// or https:// URL (got "${raw}")` };
  }
};

export const pattern =
  (re: RegExp, what: string): Parse<string> =>
  (raw) =>
    re.test(raw.trim()) ? raw.trim() : { error: `must be ${what}` };

// Never echo a secret's value in an error.
export const secret: Parse<string> = (raw) =>
  raw.trim().length > 0 && !/\s/.test(raw.trim())
    ? raw.trim()
    : { error: "must be a non-empty value without spaces" };

export interface SettingSpec<T> {
  env: string;
  key: string;
  parse: Parse<T>;
  default: T;
  doc: string;
}

export const spec = <T>(s: SettingSpec<T>) => s;
