/**
 * The scheduled retention run. Every worker process checks now and then; the one that takes the
 * `retention` lease in smsq.maintenance runs the cleanup (src/store/retention.ts), and no run
 * starts within `everyMs` of the last one's end, across all workers. A worker that dies mid-run
 * frees the lease when it expires.
 */
import type { Logger } from "../log.js";
import { isUnavailableError, type Db } from "../store/db.js";
import {
  keepsEverything,
  releaseLease,
  runCleanup,
  takeLease,
  type CleanupOptions,
  type CleanupResult,
  type RetentionSettings,
} from "../store/retention.js";

export const RETENTION_TASK = "retention";

export interface RetentionTimerOptions {
  /** Least time between the end of one run and the start of the next (default 5 minutes). */
  everyMs?: number;
  /** How often each worker asks whether a run is due (default: a fifth of everyMs, ≤ 1 min). */
  checkMs?: number;
  /** The first check, after start (default 30 s: let the process settle first). */
  firstCheckMs?: number;
  /** How long a run may take before another worker may take over (default 10 minutes). */
  leaseMs?: number;
  cleanup?: Omit<CleanupOptions, "stopped" | "now">;
}

export class RetentionTimer {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  /** Runs this process made, and the last one's result. */
  runs = 0;
  last: CleanupResult | null = null;
  /** Rows changed by this process's runs. */
  readonly totals = { bodies: 0, attempts: 0, events: 0, messages: 0 };

  constructor(
    private readonly db: Db,
    private readonly settings: RetentionSettings,
    private readonly owner: string,
    private readonly log: Logger,
    private readonly o: RetentionTimerOptions = {},
  ) {}

  private get everyMs(): number {
    return this.o.everyMs ?? 300_000;
  }

  start(): void {
    if (keepsEverything(this.settings) || this.timer || this.stopped) return;
    this.schedule(this.o.firstCheckMs ?? 30_000);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick().then(() => {
        this.running = null;
        this.schedule(this.o.checkMs ?? Math.min(60_000, Math.max(1000, this.everyMs / 5)));
      });
    }, ms);
    this.timer.unref();
  }

  /** One check: runs the cleanup when this process takes the lease. Never throws. */
  async tick(): Promise<CleanupResult | null> {
    try {
      const leaseMs = this.o.leaseMs ?? 600_000;
      if (!(await takeLease(this.db, RETENTION_TASK, this.owner, leaseMs, this.everyMs))) {
        return null;
      }
      let result: CleanupResult | null = null;
      try {
        result = await runCleanup(this.db, this.settings, {
          // Stay well inside the lease, so no other worker starts while this one runs.
          maxMs: Math.min(60_000, leaseMs / 2),
          ...this.o.cleanup,
          stopped: () => this.stopped,
        });
        this.runs += 1;
        this.last = result;
        this.totals.bodies += result.bodies;
        this.totals.attempts += result.attempts;
        this.totals.events += result.events;
        this.totals.messages += result.messages;
        const counts = {
          bodies: result.bodies,
          attempts: result.attempts,
          events: result.events,
          messages: result.messages,
          batches: result.batches,
          complete: result.complete,
          ms: result.ms,
        };
        if (result.bodies + result.attempts + result.events + result.messages > 0) {
          this.log.info(counts, "retention: redacted bodies and deleted old history");
        } else {
          this.log.debug(counts, "retention: nothing to clean");
        }
      } finally {
        await releaseLease(this.db, RETENTION_TASK, this.owner, result ?? { error: true });
      }
      return result;
    } catch (e) {
      if (isUnavailableError(e)) this.log.debug("retention: store unavailable; next time");
      else this.log.error({ err: e }, "retention run failed");
      return null;
    }
  }

  /** Stops checking; a run in progress stops after its current batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}
