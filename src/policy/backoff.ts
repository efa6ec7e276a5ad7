/**
 * Exponential backoff with full jitter: the n-th retry waits a uniform random time in
 * [0, min(cap, base·2^(n-1))]. Full jitter spreads a burst of failures out instead of having
 * them all retry at once (the AWS "Exponential Backoff And Jitter" result).
 */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
}

/** The delay before retry number `n` (1-based); `random` returns [0, 1). */
export function fullJitter(
  n: number,
  o: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(o.capMs, o.baseMs * 2 ** Math.max(0, n - 1));
  return Math.floor(random() * ceiling);
}
