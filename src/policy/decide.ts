/**
 * The delivery policy: what happens to a message after a failed attempt, decided from the
 * failure's class (see classify.ts). Pure: the dispatcher records what this returns.
 *
 * | class               | budget | next                                                     |
 * |---------------------|--------|----------------------------------------------------------|
 * | rate_limited        | free   | retry after Retry-After or backoff; account cools down   |
 * | transient           | spent  | retry with full-jitter backoff                           |
 * | ambiguous           | spent  | in doubt: reconcile with the provider before any resend  |
 * | account             | free   | waits (queued) while the account's circuit is open       |
 * | recipient_permanent | –      | failed now (suppressed when the recipient opted out)     |
 * | content_permanent   | –      | failed now                                               |
 */
import { assertNever } from "../errors.js";
import { fullJitter, type BackoffOptions } from "./backoff.js";
import type { ErrorClass } from "./classify.js";

export type InDoubtPolicy = "reconcile" | "resend" | "fail";

export interface PolicySettings {
  maxAttempts: number;
  backoff: Record<"transient" | "ambiguous" | "rate_limited" | "account", BackoffOptions>;
  /**
   * The least wait after an ambiguous attempt before the provider is asked about it: a request
   * the client gave up on may still be queued at the provider, and its list may lag. Asking too
   * soon answers "not found" for a message that is about to exist, and the resend duplicates it
   * (seen in the policy test when the event loop stalled). Default 10 s.
   */
  settleMs?: number;
}

export const DEFAULT_SETTLE_MS = 10_000;

export const DEFAULT_BACKOFF: PolicySettings["backoff"] = {
  transient: { baseMs: 2_000, capMs: 300_000 },
  ambiguous: { baseMs: 5_000, capMs: 300_000 },
  rate_limited: { baseMs: 1_000, capMs: 60_000 },
  account: { baseMs: 30_000, capMs: 600_000 },
};

export interface FailureInput {
  class: ErrorClass;
  optOut: boolean;
  retryAfterMs?: number;
  /** Attempts spent from the budget so far, this one included when it spends. */
  spent: number;
  /** Consecutive failures of this class kind, for the backoff exponent (>= 1). */
  streak: number;
  validUntil: Date | null;
  now: Date;
}

export type Decision =
  | { action: "retry"; runAt: Date; free: boolean; inDoubt: boolean }
  | { action: "fail"; reason: string | null }
  | { action: "suppress" }
  | { action: "expire" };

/** Whether an attempt of this class spends the message's budget. */
export function spendsBudget(c: ErrorClass): boolean {
  return c !== "rate_limited" && c !== "account";
}

/** Decides what follows a failed attempt. */
export function decide(
  f: FailureInput,
  s: PolicySettings,
  random: () => number = Math.random,
): Decision {
  const retryAt = (b: BackoffOptions) =>
    new Date(f.now.getTime() + Math.max(f.retryAfterMs ?? 0, fullJitter(f.streak, b, random)));
  const within = (d: Date) => f.validUntil === null || d.getTime() < f.validUntil.getTime();
  switch (f.class) {
    case "recipient_permanent":
      return f.optOut ? { action: "suppress" } : { action: "fail", reason: null };
    case "content_permanent":
      return { action: "fail", reason: null };
    case "rate_limited":
    case "account": {
      const at = retryAt(s.backoff[f.class]);
      return within(at)
        ? { action: "retry", runAt: at, free: true, inDoubt: false }
        : { action: "expire" };
    }
    case "transient":
    case "ambiguous": {
      if (f.spent >= s.maxAttempts) return { action: "fail", reason: null };
      let at = retryAt(s.backoff[f.class]);
      const settle = f.class === "ambiguous" ? (s.settleMs ?? DEFAULT_SETTLE_MS) : 0;
      if (at.getTime() < f.now.getTime() + settle) at = new Date(f.now.getTime() + settle);
      if (within(at)) {
        return { action: "retry", runAt: at, free: false, inDoubt: f.class === "ambiguous" };
      }
      // An ambiguous message whose time runs out might have been sent: say so, do not call it
      // expired (which would claim it was never sent).
      return f.class === "ambiguous"
        ? { action: "fail", reason: "in_doubt" }
        : { action: "expire" };
    }
    default:
      return assertNever(f.class);
  }
}
