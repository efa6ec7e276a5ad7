/**
 * Which token buckets exist: derived once at start from the configured accounts. Rates are in
 * segments per second, as providers count them. Defaults per sender type come from the fact
 * sheet (Twilio: US long code 1, toll-free 3, short code 100 segments/s; Dialpad: 100 requests
 * a minute per API key).
 */
import type { AccountPlan, BucketSpec } from "../store/limits.js";

/** An account's limits as configured (after defaults). */
export interface AccountLimitConfig {
  name: string;
  /** Account-wide segments per second (null: none). */
  ceiling: number | null;
  /** Provider calls in flight across all workers (null: no cap). */
  maxInFlight: number | null;
  /** The pool a message without `from` takes its sender from (empty: the account's default). */
  senders: readonly { from: string; ceiling: number | null }[];
  /** Rate for an explicit `from` outside the pool (null: no sender-level bucket for it). */
  senderRate: (from: string) => number | null;
  sticky: boolean;
  /** The window the provider counts the account's limit over (Dialpad: a minute); null: unknown. */
  windowMs?: number | null;
}

export interface LimitPlan {
  specs: BucketSpec[];
  accounts: Map<string, AccountPlan>;
  globalKey: string | null;
  /** Provider counting windows by bucket key, for the adaptive rate's estimate. */
  windows?: Map<string, number>;
}

const TOLL_FREE = /^\+1(800|833|844|855|866|877|888)\d{7}$/;

/** Twilio's documented default throughput for a sender, by its type (segments/s). */
export function twilioSenderDefault(from: string): number {
  if (/^\d{3,8}$/.test(from)) return 100; // short code
  if (TOLL_FREE.test(from)) return 3;
  if (/^\+\d+$/.test(from)) return 1; // long code (US 10DLC starts at 1 MPS per number)
  return 10; // alphanumeric sender id: no published figure; a cautious guess
}

export const accountKey = (name: string): string => `account:${name}`;
export const senderKey = (name: string, from: string): string => `sender:${name}:${from}`;
export const GLOBAL_KEY = "global";

/** Builds the bucket specs and each limited account's plan; accounts with no limit are left out. */
export function buildPlan(
  accounts: readonly AccountLimitConfig[],
  globalRate: number | null,
): LimitPlan {
  const specs: BucketSpec[] = [];
  const plans = new Map<string, AccountPlan>();
  const windows = new Map<string, number>();
  if (globalRate !== null) {
    specs.push({
      key: GLOBAL_KEY,
      account: null,
      sender: null,
      ceiling: globalRate,
      maxInFlight: null,
    });
  }
  for (const a of accounts) {
    // A pool sender without a rate still gets a row: the claim locks it to hand it out.
    const pool = a.senders.map((s) => ({
      from: s.from,
      key: senderKey(a.name, s.from),
      capacity: s.ceiling ?? 1000,
      ceiling: s.ceiling,
    }));
    const hasOwn = a.ceiling !== null || a.maxInFlight !== null;
    const limited = hasOwn || a.senders.some((s) => s.ceiling !== null);
    if (!limited && globalRate === null) continue;
    const key = hasOwn ? accountKey(a.name) : null;
    if (key !== null && a.windowMs) windows.set(key, a.windowMs);
    if (key !== null) {
      specs.push({
        key,
        account: a.name,
        sender: null,
        ceiling: a.ceiling,
        maxInFlight: a.maxInFlight,
      });
    }
    for (const s of pool) {
      specs.push({
        key: s.key,
        account: a.name,
        sender: s.from,
        ceiling: s.ceiling,
        maxInFlight: null,
      });
    }
    const specFor = (from: string): BucketSpec | null => {
      const rate = a.senderRate(from);
      return rate === null
        ? null
        : {
            key: senderKey(a.name, from),
            account: a.name,
            sender: from,
            ceiling: rate,
            maxInFlight: null,
          };
    };
    plans.set(a.name, {
      key,
      pool: pool.map(({ from, key, capacity }) => ({ from, key, capacity })),
      sticky: a.sticky,
      maxInFlight: a.maxInFlight,
      senderKey: (from) =>
        a.senderRate(from) === null && !pool.some((s) => s.from === from)
          ? null
          : senderKey(a.name, from),
      senderSpec: specFor,
    });
  }
  return {
    specs,
    accounts: plans,
    globalKey: globalRate !== null ? GLOBAL_KEY : null,
    windows,
  };
}
