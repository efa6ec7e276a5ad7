/**
 * The simulated providers' limits: a per-sender segment token bucket (Twilio MPS and its queue),
 * a per-account in-flight counter (Twilio's REST concurrency limit) and a rolling 60 s window
 * per API token (Dialpad's per-minute send limit). All take the time from an injectable clock.
 */

const EPSILON = 1e-9;
const MAX_IDLE_SENDERS = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

/** What the sender limit says about one message. */
export type SenderVerdict =
  { ok: true; waitMs: number } | { ok: false; reason: "rate" | "queue_full" };

/**
 * Token bucket in segments per sender: refilled at `rate` segments/s up to one second's worth.
 * A message is sent at once when the bucket holds its segments. "reject" mode also lets a
 * message through when the bucket holds min(segments, capacity), so a message longer than one
 * second's worth can pass; the bucket then goes negative and the debt is paid back by refill,
 * which keeps the long-run rate exact. "queue" mode accepts the message anyway while the backlog
 * (the negative balance) stays within `queueSeconds` of sending, and says how long it waits.
 */
export class SenderLimiter {
  private buckets = new Map<string, Bucket>();

  constructor(private readonly now: () => number) {}

  /** Takes `segments` from `sender`'s bucket if the limit allows it. */
  take(
    sender: string,
    segments: number,
    rate: number,
    mode: "reject" | "queue",
    queueSeconds: number,
  ): SenderVerdict {
    const now = this.now();
    const capacity = rate;
    let b = this.buckets.get(sender);
    if (!b) {
      if (this.buckets.size >= MAX_IDLE_SENDERS) this.prune(now, rate);
      b = { tokens: capacity, at: now };
      this.buckets.set(sender, b);
    } else {
      const elapsed = Math.max(0, now - b.at) / 1000;
      b.tokens = Math.min(capacity, b.tokens + elapsed * rate);
      b.at = now;
    }
    if (mode === "reject") {
      if (b.tokens + EPSILON < Math.min(segments, capacity)) return { ok: false, reason: "rate" };
      b.tokens -= segments;
      return { ok: true, waitMs: 0 };
    }
    const after = b.tokens - segments;
    if (after >= -EPSILON) {
      b.tokens = after;
      return { ok: true, waitMs: 0 };
    }
    const waitSeconds = -after / rate;
    if (waitSeconds > queueSeconds + EPSILON) return { ok: false, reason: "queue_full" };
    b.tokens = after;
    return { ok: true, waitMs: waitSeconds * 1000 };
  }

  /** Forgets every sender. */
  clear(): void {
    this.buckets.clear();
  }

  // Senders whose bucket has refilled are indistinguishable from new ones: forget them.
  private prune(now: number, rate: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * rate >= rate) this.buckets.delete(k);
    }
  }
}

/** Requests in flight per key. */
export class ConcurrencyLimiter {
  private inFlight = new Map<string, number>();

  /** Counts one more request for `key` unless `limit` are already in flight. */
  tryAcquire(key: string, limit: number): boolean {
    const n = this.inFlight.get(key) ?? 0;
    if (n >= limit) return false;
    this.inFlight.set(key, n + 1);
    return true;
  }

  /** Counts one request for `key` as finished. */
  release(key: string): void {
    const n = this.inFlight.get(key) ?? 0;
    if (n <= 1) this.inFlight.delete(key);
    else this.inFlight.set(key, n - 1);
  }

  /** Requests in flight per key (for /_sim/health). */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.inFlight);
  }
}

/** Accepted events per key within the last `windowMs` (a sliding log of their times). */
export class RollingWindow {
  private logs = new Map<string, { times: number[]; head: number }>();

  constructor(
    private readonly now: () => number,
    private readonly windowMs = 60_000,
  ) {}

  /** Records an event for `key` if fewer than `limit` happened within the window. */
  tryTake(key: string, limit: number, windowMs = this.windowMs): boolean {
    const now = this.now();
    let log = this.logs.get(key);
    if (!log) {
      log = { times: [], head: 0 };
      this.logs.set(key, log);
    }
    const { times } = log;
    while (log.head < times.length && (times[log.head] as number) <= now - windowMs) {
      log.head += 1;
    }
    // Compact now and then so the array does not grow with the run.
    if (log.head > 1024 && log.head * 2 > times.length) {
      times.splice(0, log.head);
      log.head = 0;
    }
    if (times.length - log.head >= limit) return false;
    times.push(now);
    return true;
  }

  /** Forgets every key. */
  clear(): void {
    this.logs.clear();
  }
}
