/**
 * What to do after a failed provider call. The full error taxonomy (rate_limited, transient,
 * ambiguous, recipient/content permanent, account) comes with the delivery-policy work; this is
 * the baseline every adapter gets: retry what the adapter calls retryable, with backoff, within
 * the message's attempt budget and validity; fail the rest.
 */
import { fullJitter, type BackoffOptions } from "./backoff.js";

export interface RetrySettings extends BackoffOptions {
  maxAttempts: number;
}

export type RetryDecision =
  { action: "retry"; runAt: Date } | { action: "fail" } | { action: "expire" };

export interface FailedCall {
  retryable: boolean;
  retryAfterMs?: number;
}

/** Decides the next step for a message whose attempt number `attempt` just failed. */
export function decideRetry(
  failure: FailedCall,
  attempt: number,
  validUntil: Date | null,
  now: Date,
  s: RetrySettings,
  random: () => number = Math.random,
): RetryDecision {
  if (!failure.retryable || attempt >= s.maxAttempts) return { action: "fail" };
  const delay = Math.max(failure.retryAfterMs ?? 0, fullJitter(attempt, s, random));
  const runAt = new Date(now.getTime() + delay);
  if (validUntil && runAt.getTime() >= validUntil.getTime()) return { action: "expire" };
  return { action: "retry", runAt };
}
