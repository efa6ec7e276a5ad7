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

/**
 * What the provider's own counting window says at a refusal: the calls it accepted within the
 * window (per second), and when the oldest of them leaves it. Dialpad counts a minute: a burst
 * that filled its minute in one second is refused for the rest of it, whatever the rate now.
 */
export interface WindowEstimate {
  perSecond: number;
  freeInMs: number;
}

/**
 * After a rate-limit signal: the new rate and how long to pause. The rate drops once per
 * episode: refusals with no success since the last drop only lengthen the pause (doubling),
 * since a provider's full window refuses any rate. With a window estimate, the rate drops to
 * 95 % of what the window accepted, which is the provider's real limit when the window is full.
 */
export function onLimited(
  s: AimdState,
  retryAfterMs: number | null,
  o: AimdSettings = DEFAULT_AIMD,
  estimate: WindowEstimate | null = null,
): { rate: number; cooldownMs: number; cooldownCount: number; lastLimitedRate: number | null } {
  const floor = s.ceiling * o.floorShare;
  const backoff = Math.min(o.maxCooldownMs, o.cooldownMs * 2 ** Math.min(s.cooldownCount, 16));
  const wait = Math.max(
    retryAfterMs ?? backoff,
    Math.min(estimate?.freeInMs ?? 0, o.maxCooldownMs),
  );
  if (s.cooldownCount > 0) {
    return {
      rate: s.rate,
      cooldownMs: wait,
      cooldownCount: s.cooldownCount + 1,
      lastLimitedRate: s.lastLimitedRate,
    };
  }
  const rate =
    estimate && estimate.perSecond > 0
      ? Math.min(s.rate, estimate.perSecond) * 0.95
      : s.rate * o.factor;
  return {
    rate: Math.min(s.ceiling, Math.max(floor, rate)),
    cooldownMs: wait,
    cooldownCount: 1,
    lastLimitedRate: estimate && estimate.perSecond > 0 ? estimate.perSecond : s.rate,
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
    // Above the last refusal, or never refused: probe upwards by 5 % of it.
    step = Math.max(refused ?? s.ceiling, s.rate) * 0.05;
  } else if (s.rate < refused * 0.9) {
    // Far below the last refusal: close half the gap to 95 % of it at once.
    step = Math.max((refused * 0.95 - s.rate) / 2, refused * 0.01);
  } else {
    // Near it: creep by 2 % of it.
    step = refused * 0.02;
  }
  return { rate: Math.min(s.ceiling, s.rate + step), successes: 0 };
}
