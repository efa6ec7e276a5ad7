/**
 * Buffers receipts that adapters report in process (the sandbox) and applies them in batches.
 * A receipt can overtake the record of its own send; one whose provider id is not known yet is
 * held and tried again, and dropped (counted) only after `holdMs`.
 */
import type { Logger } from "../log.js";
import { isUnavailableError } from "../store/db.js";
import type { Db } from "../store/db.js";
import { applyReceipts, type Receipt } from "../store/receipts.js";
import type { ReceiptSink } from "../providers/types.js";

export interface ReceiptBufferOptions {
  flushMs?: number;
  maxBatch?: number;
  holdMs?: number;
}

export class ReceiptBuffer implements ReceiptSink {
  private queue: Receipt[] = [];
  private held: { r: Receipt; since: number }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  readonly counts = { applied: 0, duplicates: 0, ignored: 0, unknown: 0 };
  private readonly flushMs: number;
  private readonly maxBatch: number;
  private readonly holdMs: number;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    opts: ReceiptBufferOptions = {},
  ) {
    this.flushMs = opts.flushMs ?? 20;
    this.maxBatch = opts.maxBatch ?? 500;
    this.holdMs = opts.holdMs ?? 60_000;
  }

  /** Queues a receipt for the next flush. */
  push(receipt: Receipt): void {
    this.queue.push(receipt);
    this.schedule(this.queue.length >= this.maxBatch ? 0 : this.flushMs);
  }

  /** Receipts not yet applied. */
  get pending(): number {
    return this.queue.length + this.held.length;
  }

  private schedule(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ms);
  }

  /** Applies what is queued (and retries what is held); resolves when done. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.flushing = this.flushOnce().finally(() => {
      this.flushing = null;
    });
    await this.flushing;
  }

  private async flushOnce(): Promise<void> {
    const now = Date.now();
    const batch = [...this.held.map((h) => h.r), ...this.queue.splice(0, this.maxBatch)];
    const since = new Map(this.held.map((h) => [h.r.dedupeKey, h.since]));
    this.held = [];
    if (batch.length === 0) return;
    try {
      const res = await applyReceipts(this.db, batch);
      this.counts.applied += res.applied;
      this.counts.duplicates += res.duplicates;
      this.counts.ignored += res.ignored;
      for (const r of res.unmatched) {
        const first = since.get(r.dedupeKey) ?? now;
        if (now - first < this.holdMs) this.held.push({ r, since: first });
        else this.counts.unknown += 1;
      }
    } catch (e) {
      // Keep everything and try again later; a receipt is never dropped for an outage.
      this.queue.unshift(...batch);
      if (!isUnavailableError(e)) this.log.error({ err: e }, "applying receipts failed");
      this.schedule(1000);
      return;
    }
    if (this.queue.length > 0) this.schedule(0);
    else if (this.held.length > 0) this.schedule(Math.max(this.flushMs, 200));
  }

  /** Stops the timer after a last flush. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    if (this.queue.length > 0) await this.flush();
  }
}
