/**
 * The adaptive rate: additive increase, multiplicative decrease, with a memory of where the
 * provider last pushed back. A rate-limit signal multiplies the working rate by `factor` and
 * pauses the bucket; consecutive signals double the pause, so a provider with a long window
 * (Dialpad counts a minute) is not hammered while it is full. Sustained success climbs back:
 * quickly while far below the rate that was refused, slowly near it, so the rate spends most
 * of its time just under the real limit instead of sawing between 70 % and 100 % of it.
 */

export interface AimdSettings {
  /** Multiplier on a rate-limit signal (0 < factor < 1). */
  factor: number;
  /** Pause after a signal without Retry-After; doubled per consecutive signal. */
  cooldownMs: number;
  /** Longest pause. */
  maxCooldownMs: number;
  /** Seconds of sending at the working rate between two increases. */
  increaseEverySeconds: number;
  /** Lowest working rate, as a share of the ceiling. */
  floorShare: number;
}

export const DEFAULT_AIMD: AimdSettings = {
  factor: 0.7,
  cooldownMs: 1000,
  maxCooldownMs: 60_000,
  increaseEverySeconds: 2,
  floorShare: 0.01,
};

/** The part of a bucket row AIMD reads and writes. */
export interface AimdState {
  ceiling: number;
  rate: number;
  successes: number;
  cooldownCount: number;
  lastLimitedRate: number | null;
}

/** After a rate-limit signal: the new rate and how long to pause. */
export function onLimited(
  s: AimdState,
  retryAfterMs: number | null,
  o: AimdSettings = DEFAULT_AIMD,
): { rate: number; cooldownMs: number; cooldownCount: number; lastLimitedRate: number } {
  const floor = s.ceiling * o.floorShare;
  const backoff = Math.min(o.maxCooldownMs, o.cooldownMs * 2 ** Math.min(s.cooldownCount, 16));
  return {
    rate: Math.max(floor, s.rate * o.factor),
    cooldownMs: retryAfterMs !== null ? Math.max(retryAfterMs, 0) : backoff,
    cooldownCount: s.cooldownCount + 1,
    lastLimitedRate: s.rate,
  };
}

/** The increase earned by `accepted` more successes (the rate is unchanged until enough). */
export function onAccepted(
  s: AimdState,
  accepted: number,
  o: AimdSettings = DEFAULT_AIMD,
): { rate: number; successes: number } {
  const successes = s.successes + accepted;
  if (s.rate >= s.ceiling) return { rate: s.ceiling, successes: 0 };
  if (successes < Math.max(1, s.rate * o.increaseEverySeconds)) return { rate: s.rate, successes };
  const refused = s.lastLimitedRate;
  let step: number;
  if (refused === null || s.rate >= refused) {
    // Above the last refusal, or never refused: probe upwards by 5 % of the ceiling.
    step = s.ceiling * 0.05;
  } else if (s.rate < refused * 0.9) {
    // Far below the last refusal: close half the gap to 95 % of it at once.
    step = Math.max((refused * 0.95 - s.rate) / 2, refused * 0.01);
  } else {
    // Near it: creep by 1 % of it.
    step = refused * 0.01;
  }
  return { rate: Math.min(s.ceiling, s.rate + step), successes: 0 };
}
