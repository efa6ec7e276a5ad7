/**
 * The limiter's scheduler: given the buckets a claim holds and the due messages in queue order,
 * decides which messages go now, through which sender, and at what moment. Pure: the store
 * locks and saves the buckets around it (src/store/limits.ts).
 *
 * Each bucket is a generic cell rate algorithm with no burst: a message of k segments may start
 * when every bucket it falls under has reached its next free slot (`tat`), and then moves each
 * of them k / rate seconds on. Messages are scheduled one after another, so every level (sender,
 * account, global) keeps its own spacing exactly, even when several levels bind at once.
 */

/** A bucket as the claim found it (times in ms since the epoch, rates in segments/s). */
export interface BucketState {
  key: string;
  /** Working rate (learned, after headroom); null: no rate at this level. */
  rate: number | null;
  tat: number;
  cooldownUntil: number | null;
  /**
   * Segments any rolling second may carry, and the sends of the last second (oldest first).
   * Spacing alone lets a k-segment message that opens a second carry k - 1 too many; the log
   * closes that gap. Absent: spacing only (very high rates, where one segment is noise).
   */
  window?: { cap: number; recent: { at: number; k: number }[] };
}

/** Window length the providers count throughput over. */
export const WINDOW_MS = 1000;

/**
 * Slack added to the rolling second when checking it: a send that reaches the provider a few ms
 * later than the next one must not put both in one of its seconds.
 */
export const WINDOW_GUARD_MS = 15;

/** Earliest start at or after `from` at which `k` more segments fit the bucket's rolling second. */
export function windowStart(
  w: NonNullable<BucketState["window"]>,
  from: number,
  k: number,
): number {
  const span = WINDOW_MS + WINDOW_GUARD_MS;
  const cap = Math.max(w.cap, k);
  let s = from;
  let sum = 0;
  for (const e of w.recent) if (e.at > s - span) sum += e.k;
  // Move past the oldest sends still in the window until k fits.
  for (const e of w.recent) {
    if (sum + k <= cap) break;
    if (e.at <= s - span) continue;
    // A microsecond past the boundary, so float rounding cannot count the old send in twice.
    s = Math.max(s, e.at + span + 0.001);
    sum -= e.k;
  }
  return s;
}

/** An account's part of the plan: its bucket, pool and in-flight cap. */
export interface AccountLimits {
  /** Key of the account bucket (absent: no account-level bucket). */
  key: string | null;
  /** The pool's senders with their bucket keys and capacity (segments/s), in config order. */
  pool: readonly { from: string; key: string; capacity: number }[];
  /** The same recipient always hears from the same pool sender. */
  sticky: boolean;
  /** Provider calls in flight across all workers, and the cap (null: none). */
  inFlight: number;
  maxInFlight: number | null;
  /** Bucket key for an explicit `from` outside the pool (null: no sender level for it). */
  senderKey: (from: string) => string | null;
}

export interface Candidate {
  id: string;
  /** The account the claim chose for it. */
  account: string;
  segments: number;
  from: string | null;
  to: string;
}

export interface Admitted {
  id: string;
  account: string;
  /** The sender chosen from the pool (null: keep the message's own, or the account default). */
  from: string | null;
  /** When to call the provider (ms since the epoch). */
  sendAt: number;
}

export interface ScheduleInput {
  now: number;
  /** Only messages that can start within this many ms are taken. */
  horizonMs: number;
  /** The buckets this claim holds (locked). A bucket a message needs but absent: skip it. */
  buckets: Map<string, BucketState>;
  /** Limited accounts; a candidate of another account goes at once (only the global cap). */
  accounts: Map<string, AccountLimits>;
  globalKey: string | null;
  /** Due messages in queue order. */
  candidates: readonly Candidate[];
}

export interface ScheduleResult {
  admitted: Admitted[];
  /** New next-free-slot per bucket that moved. */
  tats: Map<string, number>;
  /** Earliest moment a skipped message could start (ms), for the dispatcher's wait. */
  nextAt: number | null;
}

/** FNV-1a over a string, as a fraction in (0, 1): the recipient's stable pick from a pool. */
function unit(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Mix the bits once more: FNV's low bits are weak for short inputs.
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return ((h >>> 0) + 1) / 4294967297;
}

/**
 * The pool sender a recipient sticks to: weighted rendezvous hashing, so each sender gets a
 * share of recipients proportional to its capacity, and adding or removing a sender moves only
 * the recipients it gains or loses.
 */
export function stickySender<T extends { from: string; capacity: number }>(
  to: string,
  pool: readonly T[],
): T | undefined {
  let best: T | undefined;
  let bestScore = -Infinity;
  for (const s of pool) {
    const score = -Math.max(s.capacity, 1e-6) / Math.log(unit(`${to}|${s.from}`));
    if (score > bestScore) {
      bestScore = score;
      best = s;
    }
  }
  return best;
}

/**
 * Schedules candidates in their order (lane, then due time); see the module comment. Appends the
 * admitted sends to the buckets' window logs (the caller saves them).
 */
export function schedule(input: ScheduleInput): ScheduleResult {
  const { now, horizonMs, buckets, accounts, globalKey } = input;
  const tat = new Map<string, number>();
  const free = (key: string, k: number): number => {
    const b = buckets.get(key) as BucketState;
    const base = Math.max(tat.get(key) ?? b.tat, b.cooldownUntil ?? 0, now);
    return b.window ? windowStart(b.window, base, k) : base;
  };
  const limited = (key: string | null): key is string =>
    key !== null && buckets.has(key) && (buckets.get(key)?.rate ?? null) !== null;
  const inFlight = new Map<string, number>();
  const admitted: Admitted[] = [];
  let nextAt: number | null = null;
  const later = (t: number) => {
    nextAt = nextAt === null ? t : Math.min(nextAt, t);
  };
  // A bucket somebody else holds right now: its messages wait for a later round.
  const held = (key: string | null) => key === null || buckets.has(key);

  if (globalKey !== null && !held(globalKey)) return { admitted, tats: tat, nextAt: null };
  for (const c of input.candidates) {
    const acc = accounts.get(c.account);
    const levels: string[] = [];
    if (limited(globalKey)) levels.push(globalKey);
    let from: string | null = null;
    if (acc) {
      if (!held(acc.key)) continue;
      const n = inFlight.get(c.account) ?? acc.inFlight;
      if (acc.maxInFlight !== null && n >= acc.maxInFlight) continue;
      if (limited(acc.key)) levels.push(acc.key);
      let senderKey: string | null = null;
      if (c.from !== null) {
        senderKey = acc.senderKey(c.from);
        if (!held(senderKey)) continue;
      } else if (acc.pool.length > 0) {
        const pick = acc.sticky ? [stickySender(c.to, acc.pool)] : acc.pool;
        let best: { from: string; key: string; start: number } | null = null;
        for (const s of pick) {
          if (!s || !held(s.key)) continue;
          const start = limited(s.key) ? free(s.key, c.segments) : now;
          if (best === null || start < best.start) best = { from: s.from, key: s.key, start };
        }
        if (best === null) continue;
        senderKey = best.key;
        from = best.from;
      }
      if (limited(senderKey)) levels.push(senderKey);
    }
    // The latest of the levels' earliest starts; one level's rolling second may push the start
    // past another's, so settle (each move passes a logged send: it ends).
    let start = Math.max(now, ...levels.map((k) => free(k, c.segments)));
    for (;;) {
      const moved = Math.max(
        start,
        ...levels.map((k) => {
          const w = buckets.get(k)?.window;
          return w ? windowStart(w, start, c.segments) : start;
        }),
      );
      if (moved === start) break;
      start = moved;
    }
    if (start > now + horizonMs) {
      later(start);
      continue;
    }
    for (const key of levels) {
      const b = buckets.get(key) as BucketState;
      tat.set(key, start + (c.segments / (b.rate as number)) * 1000);
      b.window?.recent.push({ at: start, k: c.segments });
    }
    if (acc) inFlight.set(c.account, (inFlight.get(c.account) ?? acc.inFlight) + 1);
    admitted.push({ id: c.id, account: c.account, from, sendAt: start });
  }
  return { admitted, tats: tat, nextAt };
}
