/**
 * The dispatcher: claims due messages in batches under a lease, calls the provider for each,
 * and records every attempt with the message's new status in one statement per batch.
 * Several dispatchers (in several processes, on several hosts) share one PostgreSQL; SKIP
 * LOCKED claims and lease-guarded records mean none sends a message another holds.
 */
import type { Logger } from "../log.js";
import { AlertSink } from "../policy/alerts.js";
import type { ClassOverrides } from "../policy/classify.js";
import { DEFAULT_BACKOFF, type InDoubtPolicy, type PolicySettings } from "../policy/decide.js";
import type { Provider } from "../providers/types.js";
import { isUnavailableError, type Db } from "../store/db.js";
import {
  claimDue,
  type ClaimedMessage,
  type Outcome,
  type UsableAccount,
} from "../store/dispatch.js";
import { fullJitter } from "../policy/backoff.js";
import { releaseOrphans } from "../store/lost-answers.js";
import type { ResendPolicy } from "../store/resend.js";
import { attempt, type AttemptResult } from "./attempt.js";
import { Breaker, DEFAULT_BREAKER, type BreakerSettings } from "./breaker.js";
import { applyEffects } from "./effects.js";
import { advance } from "./failover.js";
import { recordWithRetry } from "./record.js";
import { countResults, newStats, type DispatcherStats } from "./stats.js";
export type { DispatcherStats } from "./stats.js";
import { housekeep } from "./housekeeping.js";
import { Limiter, released, type LimiterSettings, type PacedMessage } from "./limiter.js";
import { Signal } from "./signal.js";
import { DEFAULT_WATCH, watchQueue, type WatchSettings } from "./watch.js";

export interface DispatcherSettings {
  /** Messages claimed per round trip. */
  batchSize: number;
  /** Provider calls in flight at once, in this process. */
  concurrency: number;
  /** How long to wait when nothing is due (a submit in this process wakes it sooner). */
  pollMs: number;
  /** How long a claim is held; a worker that dies frees its messages after this. */
  leaseMs: number;
  /** Timeout of one provider call. */
  sendTimeoutMs: number;
  /** How often to promote scheduled, expire and reap leases. */
  housekeepingMs: number;
  /** How long a receipt for an unknown provider id is held before it is dropped (counted). */
  receiptHoldMs?: number;
  /** Attempt budget and backoff per error class. */
  retry: {
    maxAttempts: number;
    backoff?: Partial<PolicySettings["backoff"]>;
    /** Least wait before asking the provider about an ambiguous attempt (default 10 s). */
    settleMs?: number;
  };
  /**
   * What to do with a message whose last attempt is in doubt: one policy, or one per account
   * name. Default: reconcile where the provider can be asked (it has a lookup), else resend.
   */
  inDoubt?: InDoubtPolicy | Readonly<Record<string, InDoubtPolicy>>;
  /** Per-code class overrides from config. */
  classOverrides?: ClassOverrides;
  breaker?: Partial<BreakerSettings>;
  /** Accounts that re-send after transient carrier outcomes (30003, 30008); absent = off. */
  resendUndelivered?: Readonly<Record<string, ResendPolicy | null>>;
  /** E.164 prefixes each account can send to, by account name; absent = everywhere. */
  destinations?: Readonly<Record<string, readonly string[]>>;
  /** Daily segment budget per account name (the cost guard); absent = no limit. */
  dailySegmentBudgets?: Readonly<Record<string, number | null>>;
  /**
   * Guaranteed shares of claim rounds for the lower lanes, so bulk never starves behind a
   * stream of urgent messages: [normal, low] out of every `laneCycle` rounds (default 1 and 1
   * of 10). A share round claims only that lane; when it has nothing due the round falls back
   * to the usual highest-lane-first order.
   */
  laneShares?: { normal: number; low: number; cycle: number };
  /** Transient or rate-limited failures on one account before a message moves on (default 2). */
  failoverAfter?: number;
  /** Queue-age and dead-letter alert thresholds. */
  watch?: Partial<WatchSettings>;
  /** Shared token buckets (rates in segments/s, in-flight caps, pools); absent = no limits. */
  limits?: LimiterSettings;
}

export interface DispatcherDeps {
  db: Db;
  /** The single account to send through (or give `route`). */
  provider?: Provider;
  /** Accounts in failover order: the first usable one sends; later ones take over. */
  route?: Provider[];
  log: Logger;
  workerId: string;
  settings: DispatcherSettings;
  now?: () => Date;
  random?: () => number;
  alerts?: AlertSink;
  /** Told of every claimed message's step once it ran (metrics); must not throw. */
  onAttempt?: (m: ClaimedMessage, r: AttemptResult) => void;
}

export class Dispatcher {
  readonly stats: DispatcherStats = newStats();
  private running = false;
  private loop: Promise<void> | null = null;
  private inflight = 0;
  /** Batches in flight, with their messages (the worker's own leases; see releaseOrphans). */
  private readonly batches = new Map<Promise<void>, readonly ClaimedMessage[]>();
  /** A round failed: a claim may have committed without its answer reaching this worker. */
  private claimsInDoubt = false;
  private readonly wakeup = new Signal();
  private readonly slotFree = new Signal();
  private lastHousekeeping = 0;
  private lastWatch = 0;
  private readonly now: () => Date;
  private readonly random: () => number;
  private outage = false;
  private readonly route: Provider[];
  private readonly routeAccounts: readonly string[];
  private readonly breakers = new Map<string, Breaker>();
  readonly alerts: AlertSink;
  private readonly policy: PolicySettings;
  private readonly limiter: Limiter | null;

  constructor(private readonly deps: DispatcherDeps) {
    this.now = deps.now ?? (() => new Date());
    this.random = deps.random ?? Math.random;
    this.alerts = deps.alerts ?? new AlertSink(deps.log);
    this.policy = {
      maxAttempts: deps.settings.retry.maxAttempts,
      backoff: { ...DEFAULT_BACKOFF, ...deps.settings.retry.backoff },
      settleMs: deps.settings.retry.settleMs,
    };
    this.route = deps.route ?? (deps.provider ? [deps.provider] : []);
    if (this.route.length === 0) throw new Error("a dispatcher needs a provider");
    this.routeAccounts = this.route.map((p) => p.account);
    const limits = deps.settings.limits;
    // The embedded store serves one process: no other worker can crowd its sends.
    this.limiter = limits
      ? new Limiter(deps.db, { exclusive: deps.db.kind === "pglite", ...limits }, deps.log)
      : null;
    for (const p of this.route) {
      this.breakers.set(
        p.account,
        new Breaker(
          deps.db,
          p.account,
          {
            ...DEFAULT_BREAKER,
            ...deps.settings.breaker,
            // With an adaptive rate, 403s while the rate comes down are expected: escalate later.
            ...(this.limiter?.handles(p.account) ? { persistentForbidden: 8 } : {}),
            dailySegmentBudget: deps.settings.dailySegmentBudgets?.[p.account] ?? null,
          },
          deps.log,
          this.alerts,
        ),
      );
    }
  }

  private breaker(account: string): Breaker {
    return this.breakers.get(account) ?? (this.breakers.get(this.route[0]!.account) as Breaker);
  }

  private inDoubtFor(p: Provider): InDoubtPolicy {
    const s = this.deps.settings.inDoubt;
    const chosen = typeof s === "string" ? s : s?.[p.account];
    return chosen ?? (p.lookup ? "reconcile" : "resend");
  }

  private providerFor(account: string | null): Provider {
    return this.route.find((p) => p.account === account) ?? (this.route[0] as Provider);
  }

  /** Starts claiming. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Tells the dispatcher new work may be due (e.g. a submit in this process). */
  wake(): void {
    this.wakeup.notify();
  }

  /** Stops claiming, waits for the calls in flight and their records, then resolves. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeup.notify();
    this.slotFree.notify();
    await this.loop;
    await Promise.all([...this.batches.keys()]);
  }

  /** Messages claimed and not yet recorded. */
  get inFlight(): number {
    return this.inflight;
  }

  private async run(): Promise<void> {
    const { settings: s, log } = this.deps;
    let failures = 0;
    // Paced sends must leave on time: connect before the first one, not during it.
    if (this.limiter) await Promise.all(this.route.map((p) => p.warm?.()));
    while (this.running) {
      try {
        // The embedded store blocks this thread while it works: keep clear of paced sends.
        await this.limiter?.quiet();
        await this.housekeeping();
        if (this.claimsInDoubt) await this.releaseOrphans();
        const room = Math.min(s.batchSize, s.concurrency - this.inflight);
        if (room <= 0) {
          await this.slotFree.wait(s.pollMs);
          continue;
        }
        // Each account's circuit and cooldown decide where this round may send, and how much.
        const now = this.now();
        const gates = await Promise.all(
          this.route.map((p) => this.breaker(p.account).gate(room, now)),
        );
        const usable = this.route
          .map((p, position) => ({
            account: p.account,
            provider: p.name,
            position,
            destinations: s.destinations?.[p.account] ?? [],
          }))
          .filter((_, i) => (gates[i]?.allow ?? 0) > 0 && !gates[i]?.probe);
        const probes = this.route.filter((_, i) => gates[i]?.probe);
        for (const p of probes) {
          const one = await claimDue(this.deps.db, {
            workerId: this.deps.workerId,
            limit: 1,
            leaseMs: s.leaseMs,
            accounts: [
              {
                account: p.account,
                provider: p.name,
                position: this.route.indexOf(p),
                destinations: s.destinations?.[p.account] ?? [],
              },
            ],
            probe: true,
          });
          if (one.length > 0) this.launch(one, p.account);
          else await this.breaker(p.account).probeResult(null, "nothing to send");
        }
        // A limited worker claims no more than it has lately been able to send on time.
        const allow = usable.length > 0 ? (this.limiter?.claimCap(room) ?? room) : 0;
        if (allow === 0) {
          this.stats.rounds += 1;
          const wait = Math.min(...gates.map((g) => g.waitMs));
          await this.wakeup.wait(Math.min(Math.max(wait, 10), s.pollMs * 4));
          continue;
        }
        const lane = this.shareLane();
        let batch = lane === null ? [] : await this.claim(usable, allow, lane);
        if (batch.length === 0) batch = await this.claim(usable, allow);
        this.stats.rounds += 1;
        if (this.outage) log.info("store reachable again; dispatching resumed");
        this.outage = false;
        failures = 0;
        if (batch.length > 0) this.launch(batch, null);
        // A short batch means nothing more is due right now (or no slot is free yet).
        if (batch.length < allow) {
          await this.wakeup.wait(this.limiter ? this.limiter.idleMs(s.pollMs) : s.pollMs);
        }
      } catch (e) {
        failures += 1;
        this.stats.storeErrors += 1;
        this.claimsInDoubt = true;
        if (isUnavailableError(e)) {
          if (!this.outage) log.warn("store unavailable; dispatching paused, reconnecting");
          this.outage = true;
        } else {
          log.error({ err: e }, "dispatch loop error");
        }
        await this.wakeup.wait(
          fullJitter(failures, { baseMs: 250, capMs: 10_000 }, this.random) + 50,
        );
      }
    }
  }

  /** Gives back messages a failed round may have claimed without this worker knowing. */
  private async releaseOrphans(): Promise<void> {
    const holding = [...this.batches.values()].flatMap((b) => b.map((m) => m.id));
    const ids = await releaseOrphans(this.deps.db, this.deps.workerId, holding);
    this.claimsInDoubt = false;
    if (ids.length === 0) return;
    this.stats.orphansReleased += ids.length;
    this.deps.log.warn({ messages: ids.length }, "gave back messages claimed as the store failed");
  }

  private claimRound = 0;
  private housekeepingRound = 0;

  /** One claim: through the shared buckets when limits are configured. */
  private async claim(
    accounts: UsableAccount[],
    limit: number,
    lane?: number,
  ): Promise<PacedMessage[]> {
    const o = {
      workerId: this.deps.workerId,
      limit,
      leaseMs: this.deps.settings.leaseMs,
      accounts,
      lane,
    };
    if (!this.limiter) return claimDue(this.deps.db, o);
    await this.limiter.quiet();
    return this.limiter.claim(o);
  }

  /** The lane this claim round is reserved for, or null for highest-lane-first. */
  private shareLane(): number | null {
    const sh = this.deps.settings.laneShares ?? { normal: 1, low: 1, cycle: 10 };
    const r = this.claimRound++ % sh.cycle;
    if (r < sh.normal) return 1;
    if (r < sh.normal + sh.low) return 2;
    return null;
  }

  private async housekeeping(): Promise<void> {
    const s = this.deps.settings;
    const t = Date.now();
    if (t - this.lastHousekeeping < s.housekeepingMs) return;
    this.lastHousekeeping = t;
    // The full scan of held receipts every tenth round (10 s at the default second).
    const heldReceipts = this.housekeepingRound++ % 10 === 0;
    const h = await housekeep(this.deps.db, {
      heldReceipts,
      maxAttempts: s.retry.maxAttempts,
      receiptHoldMs: s.receiptHoldMs ?? 3_600_000,
      resend: new Map(this.route.map((p) => [p.account, s.resendUndelivered?.[p.account] ?? null])),
    });
    this.stats.heldReceiptsApplied += h.heldReceiptsApplied;
    this.stats.resends += h.resends;
    this.stats.unknownReceipts += h.unknownReceipts;
    const log = this.deps.log;
    if (h.unknownReceipts > 0) {
      log.warn({ receipts: h.unknownReceipts }, "dropped receipts for provider ids never recorded");
    }
    if (h.reaped > 0) log.warn({ reaped: h.reaped }, "took back messages from expired leases");
    if (h.promoted > 0 || h.expired > 0) log.debug(h, "housekeeping");
    const watch = { ...DEFAULT_WATCH, ...s.watch };
    if (t - this.lastWatch >= watch.everyMs) {
      this.lastWatch = t;
      await watchQueue(this.deps.db, this.alerts, watch);
    }
  }

  /** Starts a batch; `probe` names the account a half-open probe batch tests. */
  private launch(batch: ClaimedMessage[], probe: string | null): void {
    this.stats.claimed += batch.length;
    this.inflight += batch.length;
    const p = this.process(batch, probe).finally(() => {
      this.inflight -= batch.length;
      this.batches.delete(p);
      this.slotFree.notify();
    });
    this.batches.set(p, batch);
  }

  private async process(batch: PacedMessage[], probe: string | null): Promise<void> {
    const s = this.deps.settings;
    let lateInBatch = 0;
    const results = await Promise.all(
      batch.map(async (m) => {
        // A limited claim gives each message its slot: wait for it (at most the horizon). A
        // send that misses its slot (event loop or host stalled) would crowd the next slots:
        // it goes back to the queue instead, unsent, and spends nothing.
        await this.limiter?.slot(m.sendAtLocal);
        if (this.limiter && m.sendAtLocal !== undefined) {
          const at = this.limiter.reserve(m);
          const putBack = () => {
            this.stats.lateReleased += 1;
            return { r: released(m, this.now()), m, account: m.account ?? "", segments: 0 };
          };
          // Only lateness shrinks the next claims; a hold-back for a refusal says nothing about
          // how fast this worker can send.
          const late = this.limiter.late(m.sendAtLocal, at);
          if (late || this.limiter.stale(m)) {
            if (late) lateInBatch += 1;
            return putBack();
          }
          await this.limiter.slot(at);
          // A refusal may have come in while this one waited for its slot: hold it back too.
          // (Sent anyway, its refusal would start a new episode: the pause doubles per episode,
          // and a burst of such refusals stopped all sending for the 60 s cap.)
          if (this.limiter.stale(m)) return putBack();
        }
        const provider = this.providerFor(m.account);
        const r = await attempt(
          m,
          provider,
          {
            policy: this.policy,
            inDoubt: this.inDoubtFor(provider),
            overrides: s.classOverrides,
            sendTimeoutMs: s.sendTimeoutMs,
          },
          this.now,
          this.random,
        );
        advance(this.routeAccounts, m, r, this.deps.settings.failoverAfter ?? 2);
        this.deps.onAttempt?.(m, r);
        if (r.outcome.attempt?.outcome === "accepted" && m.account) {
          this.limiter?.unrecordedAccepted(m.account, 1);
        }
        // A rate limit is acted on at once, not after the batch: the messages still waiting
        // for that bucket's slots must not follow this one into the provider's refusal.
        if (r.errorClass === "rate_limited" && this.limiter) {
          await this.limiter.refused(m, r).catch((e: unknown) => {
            if (!isUnavailableError(e)) this.deps.log.error({ err: e }, "rate-limit signal failed");
          });
        }
        // The bucket paces the retry of a rate-limited message: no backoff of its own.
        if (
          r.errorClass === "rate_limited" &&
          r.outcome.status === "queued" &&
          this.limiter?.handles(provider.account)
        ) {
          r.outcome.runAt = this.now();
        }
        return { r, m, account: provider.account, segments: m.segments };
      }),
    );
    this.limiter?.sentOnTime(batch.length, lateInBatch);
    countResults(
      this.stats,
      results.map((x) => x.r),
    );
    await this.limiter?.quiet();
    await this.record(results.map((x) => x.r.outcome));
    for (const { r, m } of results) {
      if (r.outcome.attempt?.outcome === "accepted" && m.account) {
        this.limiter?.unrecordedAccepted(m.account, -1);
      }
    }
    await this.limiter?.quiet();
    await this.effects(results, probe);
  }

  /** Cooldowns, circuit, suppressions and the limiter's credits (src/dispatch/effects.ts). */
  private effects(
    results: { r: AttemptResult; m: ClaimedMessage; account: string; segments: number }[],
    probe: string | null,
  ): Promise<void> {
    return applyEffects(
      {
        db: this.deps.db,
        log: this.deps.log,
        limiter: this.limiter,
        breaker: (account) => this.breaker(account),
        now: this.now,
      },
      results,
      probe,
    );
  }

  /** Records outcomes, retrying through a store outage (src/dispatch/record.ts). */
  private record(outcomes: Outcome[]): Promise<void> {
    return recordWithRetry(
      {
        db: this.deps.db,
        log: this.deps.log,
        workerId: this.deps.workerId,
        providers: [...new Set(this.route.map((p) => p.name))],
        random: this.random,
        running: () => this.running,
        stats: this.stats,
      },
      outcomes,
    );
  }
}
