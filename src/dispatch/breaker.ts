/**
 * The circuit breaker and cooldown gate for one account, as seen by one dispatcher. The state
 * lives in the store (shared by every worker); this keeps the sliding window of recent
 * outcomes that trips the breaker on a high failure rate, and decides each round how many
 * messages may be claimed: all, none (open, cooling down), or one (the half-open probe).
 */
import type { Logger } from "../log.js";
import type { Db } from "../store/db.js";
import {
  closeCircuit,
  coolDown,
  getAccountState,
  openCircuit,
  takeProbe,
} from "../store/accounts.js";
import type { AlertSink } from "../policy/alerts.js";

export interface BreakerSettings {
  /** First wait before a half-open probe; doubles with each consecutive opening. */
  probeMs: number;
  maxProbeMs: number;
  /** Outcomes kept in the sliding window. */
  window: number;
  /** Fewest outcomes before the failure rate can trip it. */
  minSamples: number;
  /** Failure ratio in the window that opens the circuit. */
  failureRatio: number;
  /** A half-open probe silent for this long may be taken over by another worker. */
  staleProbeMs: number;
  /**
   * A 403 the provider calls a rate limit (Dialpad) that keeps coming back through this many
   * cooldowns, at least `forbiddenGapMs` apart with no success between, is taken for what it
   * may also mean, a missing permission: an account failure.
   */
  persistentForbidden: number;
  forbiddenGapMs: number;
  /** Segments the account may send per UTC day; null = no limit (the cost guard). */
  dailySegmentBudget?: number | null;
}

export const DEFAULT_BREAKER: BreakerSettings = {
  probeMs: 30_000,
  maxProbeMs: 600_000,
  window: 50,
  minSamples: 20,
  failureRatio: 0.5,
  staleProbeMs: 120_000,
  persistentForbidden: 5,
  forbiddenGapMs: 1_000,
};

export type Gate = { allow: number; probe: boolean; waitMs: number };

export class Breaker {
  private recent: boolean[] = [];
  private forbidden = 0;
  private lastForbidden = 0;

  constructor(
    private readonly db: Db,
    private readonly account: string,
    private readonly s: BreakerSettings,
    private readonly log: Logger,
    private readonly alerts: AlertSink,
  ) {}

  /** How many messages this round may claim, given the account's shared state. */
  async gate(room: number, now: Date): Promise<Gate> {
    const st = await getAccountState(this.db, this.account);
    if (st.cooldownUntil && st.cooldownUntil > now) {
      return { allow: 0, probe: false, waitMs: st.cooldownUntil.getTime() - now.getTime() };
    }
    const budget = this.s.dailySegmentBudget ?? null;
    if (budget !== null && st.segmentsToday >= budget) {
      this.alerts.raise(
        `budget:${this.account}`,
        "warning",
        `account ${this.account}: daily budget of ${budget} segments spent; its messages wait for tomorrow (UTC)`,
      );
      const midnight = new Date(now);
      midnight.setUTCHours(24, 0, 0, 0);
      return { allow: 0, probe: false, waitMs: midnight.getTime() - now.getTime() };
    }
    if (budget !== null) {
      this.alerts.resolve(
        `budget:${this.account}`,
        `account ${this.account}: daily budget available again`,
      );
    }
    if (st.circuit === "closed") return { allow: room, probe: false, waitMs: 0 };
    if (await takeProbe(this.db, this.account, this.s.staleProbeMs)) {
      this.log.info({ account: this.account }, "circuit half-open: sending one probe message");
      return { allow: 1, probe: true, waitMs: 0 };
    }
    const wait = st.nextProbeAt ? st.nextProbeAt.getTime() - now.getTime() : this.s.probeMs;
    return { allow: 0, probe: false, waitMs: Math.max(wait, 0) };
  }

  /**
   * Counts a rate-limit 403 (see persistentForbidden); returns true when it has persisted and
   * the circuit was opened for it.
   */
  async forbiddenRateLimit(now: number): Promise<boolean> {
    if (now - this.lastForbidden < this.s.forbiddenGapMs) return false;
    this.lastForbidden = now;
    this.forbidden += 1;
    if (this.forbidden < this.s.persistentForbidden) return false;
    this.forbidden = 0;
    await this.open(
      `403 persisted through ${this.s.persistentForbidden} cooldowns: probably a missing permission, not a rate limit`,
    );
    return true;
  }

  /** Records one outcome's verdict on the account (null: says nothing about it). */
  async observe(healthy: boolean | null): Promise<void> {
    if (healthy === true) this.forbidden = 0;
    if (healthy === null) return;
    this.recent.push(healthy);
    if (this.recent.length > this.s.window) this.recent.shift();
    const failures = this.recent.filter((h) => !h).length;
    if (
      this.recent.length >= this.s.minSamples &&
      failures / this.recent.length >= this.s.failureRatio
    ) {
      this.recent = [];
      await this.open(`failure rate ${failures} of the last ${this.s.window} attempts`);
    }
  }

  /** Opens the circuit at once (an account-class failure). */
  async open(reason: string): Promise<void> {
    const changed = await openCircuit(
      this.db,
      this.account,
      reason,
      this.s.probeMs,
      this.s.maxProbeMs,
    );
    if (changed) {
      this.alerts.raise(
        `circuit:${this.account}`,
        "critical",
        `account ${this.account}: circuit opened: ${reason}`,
      );
    }
  }

  /** The probe's verdict: close on success, re-open (longer) on failure. */
  async probeResult(healthy: boolean | null, reason: string): Promise<void> {
    if (healthy === false) {
      await this.open(`probe failed: ${reason}`);
      return;
    }
    if (await closeCircuit(this.db, this.account)) {
      this.recent = [];
      this.alerts.resolve(`circuit:${this.account}`, `account ${this.account}: circuit closed`);
    }
  }

  /** Starts a rate-limit cooldown for the account. */
  async coolDown(until: Date, reason: string): Promise<void> {
    await coolDown(this.db, this.account, until, reason);
  }
}
