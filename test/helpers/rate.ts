/** Figures about send times, as the provider simulator logged them. */

/** The most events in any rolling window of `windowMs` (half-open: [t, t + windowMs)). */
export function maxInWindow(
  times: readonly number[],
  windowMs = 1000,
  weights?: readonly number[],
): number {
  const order = times.map((t, i) => [t, weights?.[i] ?? 1] as const).sort((a, b) => a[0] - b[0]);
  let best = 0;
  let sum = 0;
  let lo = 0;
  for (let hi = 0; hi < order.length; hi++) {
    sum += (order[hi] as readonly [number, number])[1];
    while (
      (order[hi] as readonly [number, number])[0] - (order[lo] as readonly [number, number])[0] >=
      windowMs
    ) {
      sum -= (order[lo] as readonly [number, number])[1];
      lo++;
    }
    best = Math.max(best, sum);
  }
  return best;
}

/** Events per second between the first and the last (n - 1 intervals over their span). */
export function achievedRate(times: readonly number[], weights?: readonly number[]): number {
  if (times.length < 2) return 0;
  const order = times.map((t, i) => [t, weights?.[i] ?? 1] as const).sort((a, b) => a[0] - b[0]);
  const span =
    (order.at(-1) as readonly [number, number])[0] - (order[0] as readonly [number, number])[0];
  // Each event's weight is paid for by the gap after it: the last one's lies beyond the span.
  const carried = order.slice(0, -1).reduce((s, [, w]) => s + w, 0);
  return span > 0 ? (carried / span) * 1000 : Infinity;
}
