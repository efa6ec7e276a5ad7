/**
 * The dispatcher's side of the shared token buckets: claims through them, paces each claimed
 * message to its slot, credits successes and turns rate-limit refusals into AIMD signals.
 */
import { DEFAULT_AIMD, type AimdSettings } from "../limits/aimd.js";
import type { LimitPlan } from "../limits/plan.js";
import { windowStart, WINDOW_GUARD_MS, WINDOW_MS } from "../limits/schedule.js";
import type { Logger } from "../log.js";
import type { Db } from "../store/db.js";
import type { ClaimedMessage, UsableAccount } from "../store/dispatch.js";
import { ClockOffset } from "../store/clock.js";
import { applyLimitSignals } from "../store/limit-signals.js";
import { claimLimited, syncBuckets } from "../store/limits.js";
import type { AttemptResult } from "./attempt.js";

export interface LimiterSettings {
  plan: LimitPlan;
  /** Share of every rate kept back for jitter on the way to the provider (default 0.02). */
  headroom?: number;
  /** How far ahead a claim takes slots (default 250 ms). */
  horizonMs?: number;
  /**
   * How late a send may leave after its slot before it is put back instead (default: half the
   * headroom's slack in a second, at least 5 ms). Sends later than that could crowd a second.
   */
  lateToleranceMs?: number;
  /** This process is the only worker (embedded store): a late send is paced, never put back. */
  exclusive?: boolean;
  aimd?: Partial<AimdSettings>;
}

// Codes that mean "this sender's queue is full": the sender's bucket slows down; any other
// rate limit (429/20429 concurrency, 30022 campaign, Dialpad 429/403) is the account's.
const SENDER_CODES = new Set(["21611", "30001"]);

// Claim-size bounds while sends leave late: never below MIN_CLAIM; no cap again above MAX_CAP.
const MIN_CLAIM = 5;
const MAX_CAP = 1000;

/** A message the limiter claimed, with the local time its slot opens and when it was claimed. */
export type PacedMessage = ClaimedMessage & { sendAtLocal?: number; claimedAtLocal?: number };

export class Limiter {
  private synced = false;
  private readonly accepted = new Map<string, number>();
  private readonly aimd: AimdSettings;
  private readonly clock = new ClockOffset();
  /** Earliest local time a skipped message can start, from the last claim. */
  nextAt: number | null = null;
  /** Buckets another worker held in the last claim. */
  busy = 0;
  /** Local send times of claimed messages still waiting for their slot. */
  private readonly pending = new Set<number>();
  /** How long a claim takes here (the longest of the last few, ms). */
  private claimMs = 5;
  private readonly claimTimes: number[] = [];
  /** When a provider last refused each bucket for its rate (local ms). */
  private readonly refusedAt = new Map<string, number>();
  /** Working rate and window cap per bucket, as last seen. */
  private readonly rates = new Map<string, { rate: number; cap: number | null }>();
  /** This process's own sends per bucket: the next free moment and the last second's log. */
  private readonly local = new Map<string, { next: number; recent: { at: number; k: number }[] }>();

  constructor(
    private readonly db: Db,
    private readonly s: LimiterSettings,
    private readonly log: Logger,
  ) {
    this.aimd = { ...DEFAULT_AIMD, ...s.aimd };
  }

  get horizonMs(): number {
    // A claim must cover the time the next one takes, or slots pass unused while it runs
    // (the embedded store on a busy host can take 100 ms and more).
    // Capped: slots already claimed for bulk are slots an urgent message waits behind.
    return this.s.horizonMs ?? Math.min(500, Math.max(250, 2.5 * this.claimMs));
  }

  /** Accepted calls of this process not yet in the audit trail, per account. */
  private readonly unrecorded = new Map<string, number>();

  /** Notes accepted calls made (+) or recorded (-), for the window estimate. */
  unrecordedAccepted(account: string, delta: number): void {
    this.unrecorded.set(account, Math.max(0, (this.unrecorded.get(account) ?? 0) + delta));
  }

  /** True when this account's messages go through buckets. */
  handles(account: string): boolean {
    return this.s.plan.globalKey !== null || this.s.plan.accounts.has(account);
  }

  /** Claims within every limit; see src/store/limits.ts. */
  async claim(o: {
    workerId: string;
    limit: number;
    leaseMs: number;
    accounts: readonly UsableAccount[];
    lane?: number;
  }): Promise<PacedMessage[]> {
    if (!this.synced) {
      await syncBuckets(this.db, this.s.plan.specs);
      this.synced = true;
    }
    const started = Date.now();
    const c = await claimLimited(this.db, {
      ...o,
      horizonMs: this.horizonMs,
      headroom: this.s.headroom ?? 0.02,
      globalKey: this.s.plan.globalKey,
      plan: this.s.plan.accounts,
      accepted: this.accepted,
      aimd: this.aimd,
      clock: this.clock,
    });
    this.claimTimes.push(Date.now() - started);
    if (this.claimTimes.length > 8) this.claimTimes.shift();
    this.claimMs = Math.max(...this.claimTimes);
    for (const [k, v] of c.rates) this.rates.set(k, v);
    this.nextAt = c.nextAtLocal;
    this.busy = c.busy;
    return c.messages.map((m) => ({ ...m, claimedAtLocal: started }));
  }

  /**
   * Waits until no paced send falls due within the next claim's duration. The embedded store
   * runs on this thread and blocks it while it claims, which would make a due send late; a
   * claim started right after a send has the whole gap to the next one.
   */
  async quiet(now = () => Date.now()): Promise<void> {
    // Only the embedded store blocks this thread, and only slow buckets leave gaps to claim in:
    // at high rates a send is always due soon, and waiting for a gap would stall the claims.
    if (!this.s.exclusive || this.pending.size > 3) return;
    for (let i = 0; i < 20; i++) {
      const t = now();
      let next = Infinity;
      for (const at of this.pending) if (at >= t - 1 && at < next) next = at;
      if (next === Infinity || next - t > this.claimMs + 3) return;
      await new Promise((r) => setTimeout(r, Math.max(0, next - t) + 1));
    }
  }

  /** Waits for a message's slot (at most the horizon), tracking it for quiet(). */
  async slot(at: number | undefined): Promise<void> {
    if (at === undefined) return;
    this.pending.add(at);
    try {
      await until(at);
    } finally {
      this.pending.delete(at);
    }
  }

  /**
   * The moment this message may leave: its slot, or later if this process's own sends on the
   * same buckets say so (a late timer must not crowd the next sends). Reserves that moment.
   */
  reserve(m: PacedMessage, now = Date.now()): number {
    if (m.sendAtLocal === undefined) return now;
    const k = this.keys(m);
    const keys = [k.sender, k.account, k.global].filter(
      (x): x is string => x !== null && this.rates.has(x),
    );
    const seg = m.segments;
    let t = Math.max(now, m.sendAtLocal);
    for (;;) {
      let moved = t;
      for (const key of keys) {
        const r = this.rates.get(key) as { rate: number; cap: number | null };
        const l = this.local.get(key);
        if (!l) continue;
        moved = Math.max(moved, l.next);
        if (r.cap !== null) moved = windowStart({ cap: r.cap, recent: l.recent }, moved, seg);
      }
      if (moved === t) break;
      t = moved;
    }
    for (const key of keys) {
      const r = this.rates.get(key) as { rate: number; cap: number | null };
      const l = this.local.get(key) ?? { next: 0, recent: [] };
      l.next = t + (seg / r.rate) * 1000;
      // The second's log only where a window cap applies (slow buckets): a fast bucket's log
      // held a second of sends (10,000 at 10,000/s), filtered on every send.
      if (r.cap !== null) {
        const from = t - WINDOW_MS - WINDOW_GUARD_MS;
        let drop = 0;
        while (drop < l.recent.length && (l.recent[drop] as { at: number }).at <= from) drop++;
        if (drop > 0) l.recent.splice(0, drop);
        l.recent.push({ at: t, k: seg });
      } else if (l.recent.length > 0) {
        l.recent = [];
      }
      this.local.set(key, l);
    }
    return t;
  }

  /** True when a send due at `at` (local ms) is too late to go without crowding later slots. */
  late(at: number | undefined, now = Date.now()): boolean {
    if (at === undefined || this.s.exclusive) return false;
    const lateness = now - at;
    this.lateness.push(Math.max(0, lateness));
    if (this.lateness.length > 50) this.lateness.shift();
    const base = this.s.lateToleranceMs ?? Math.max(5, ((this.s.headroom ?? 0.02) * 1000) / 2);
    // On a host so loaded that most sends leave late, putting them all back would stop sending
    // altogether: the tolerance follows this worker's own lateness (twice its 90th percentile,
    // at most 100 ms), trading a little precision for progress, and counted (lateReleased).
    // Recomputed every 8 sends, not on each: a sort per send showed in the profile at 10,000/s.
    if (this.lateness.length >= 10 && this.latenessSeen++ % 8 === 0) {
      const sorted = [...this.lateness].sort((a, b) => a - b);
      this.p90 = sorted[Math.floor(sorted.length * 0.9)] ?? 0;
    }
    const tolerance =
      this.lateness.length >= 10 ? Math.max(base, Math.min(100, 2 * this.p90)) : base;
    return lateness > tolerance;
  }

  /** This worker's recent lateness at its slots (ms), for the tolerance above. */
  private readonly lateness: number[] = [];
  private latenessSeen = 0;
  private p90 = 0;

  /** Most messages per claim while sends leave late; null: no cap (room decides). */
  private cap: number | null = null;

  /**
   * The claim size this worker can keep up with. A claim hands out slots at the bucket's
   * rate; a worker whose CPU cannot send that fast (10,000/s against ~3,000 a core) finds its
   * later messages past their slots and puts them back, to be claimed and put back again
   * (the bench saw 13,000 put-backs for 20,000 messages with claims of 500, and 52,000 with
   * four workers). So the claim size follows the put-backs: halved when more than a tenth of
   * a batch left late, grown back by a tenth per clean batch.
   */
  claimCap(room: number): number {
    return this.cap === null ? room : Math.min(room, this.cap);
  }

  /** Tells the limiter how a processed batch went: its size and how many left late. */
  sentOnTime(claimed: number, late: number): void {
    if (claimed === 0) return;
    if (late * 10 > claimed) {
      this.cap = Math.max(MIN_CLAIM, Math.floor(Math.min(this.cap ?? claimed, claimed) / 2));
    } else if (this.cap !== null && claimed >= this.cap) {
      this.cap = Math.ceil(this.cap * 1.1) + 1;
      if (this.cap >= MAX_CAP) this.cap = null;
    }
  }

  /** How long to wait before the next claim when the last one came back short. */
  idleMs(pollMs: number, now = Date.now()): number {
    if (this.nextAt !== null) {
      return Math.max(1, Math.min(pollMs, this.nextAt - this.horizonMs / 2 - now));
    }
    // Another worker holds a bucket: it is taking the next slots; look again shortly.
    if (this.busy > 0) return Math.min(pollMs, Math.max(5, this.horizonMs / 4));
    return pollMs;
  }

  /** The buckets a message spends from. */
  keys(m: ClaimedMessage): {
    sender: string | null;
    account: string | null;
    global: string | null;
  } {
    const p = m.account ? this.s.plan.accounts.get(m.account) : undefined;
    const from = m.from_number ?? m.sender;
    return {
      sender: p && from ? p.senderKey(from) : null,
      account: p?.key ?? null,
      global: this.s.plan.globalKey,
    };
  }

  /** Counts accepted calls toward their buckets' next increase (saved by the next claim). */
  credit(results: readonly { m: ClaimedMessage; r: AttemptResult }[]): void {
    for (const { m, r } of results) {
      if (r.outcome.attempt?.outcome !== "accepted" || !m.account || !this.handles(m.account)) {
        continue;
      }
      const k = this.keys(m);
      for (const key of [k.sender, k.account, k.global]) {
        if (key !== null) this.accepted.set(key, (this.accepted.get(key) ?? 0) + 1);
      }
    }
  }

  /**
   * A provider refused a call for its rate: at once, this process stops sending the messages
   * it holds for that bucket (they go back unsent), and the bucket's working rate drops for
   * every worker. Returns the keys whose rate moved.
   */
  async refused(m: ClaimedMessage, r: AttemptResult): Promise<string[]> {
    const a = r.outcome.attempt;
    if (!a || !m.account || !this.handles(m.account) || r.errorClass !== "rate_limited") {
      return [];
    }
    const k = this.keys(m);
    const code = r.outcome.error?.code ?? "";
    const key = SENDER_CODES.has(code)
      ? (k.sender ?? k.account ?? k.global)
      : (k.account ?? k.sender ?? k.global);
    if (key === null) return [];
    this.refusedAt.set(key, Date.now());
    const moved = await applyLimitSignals(
      this.db,
      [
        {
          key,
          startedAt: a.startedAt,
          retryAfterMs: r.effects.retryAfterMs ?? null,
          windowMs: this.s.plan.windows?.get(key) ?? null,
          account: m.account,
          unrecorded: this.unrecorded.get(m.account) ?? 0,
        },
      ],
      this.aimd,
    );
    if (moved.length > 0) {
      this.log.warn({ buckets: moved }, "provider rate limit: working rate lowered");
    }
    return moved;
  }

  /** True when one of the message's buckets was refused after it was claimed: hold it back. */
  stale(m: PacedMessage): boolean {
    if (m.claimedAtLocal === undefined) return false;
    const k = this.keys(m);
    for (const key of [k.sender, k.account, k.global]) {
      if (key !== null && (this.refusedAt.get(key) ?? 0) > m.claimedAtLocal) return true;
    }
    return false;
  }
}

/** The outcome of a message put back unsent: queued at once, its claim not counted. */
export function released(m: ClaimedMessage, now: Date): AttemptResult {
  return {
    outcome: { messageId: m.id, status: "queued", runAt: now, free: true },
    effects: { healthy: null },
    errorClass: null,
  };
}

/** Resolves at a local time (ms since the epoch); at once when it has passed. */
export function until(at: number | undefined): Promise<void> | null {
  if (at === undefined) return null;
  const ms = at - Date.now();
  return ms > 0 ? new Promise((r) => setTimeout(r, ms)) : null;
}
