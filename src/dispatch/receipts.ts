/**
 * Buffers receipts that adapters report in process (the sandbox) and applies them in batches,
 * one transaction per batch instead of one per receipt. A receipt that overtakes the record of
 * its own send is held in the store (see store/receipts.ts), not here.
 */
import type { Logger } from "../log.js";
import type { ReceiptSink } from "../providers/types.js";
import { isUnavailableError, type Db } from "../store/db.js";
import { applyReceipts, type Receipt, type ReceiptResult } from "../store/receipts.js";

export interface ReceiptBufferOptions {
  flushMs?: number;
  maxBatch?: number;
}

export class ReceiptBuffer implements ReceiptSink {
  private queue: Receipt[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  readonly counts = { applied: 0, duplicates: 0, ignored: 0, held: 0, failed: 0 };
  private readonly flushMs: number;
  private readonly maxBatch: number;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    opts: ReceiptBufferOptions = {},
  ) {
    this.flushMs = opts.flushMs ?? 20;
    this.maxBatch = opts.maxBatch ?? 500;
  }

  /** Queues a receipt for the next flush. */
  push(receipt: Receipt): void {
    this.queue.push(receipt);
    this.schedule(this.queue.length >= this.maxBatch ? 0 : this.flushMs);
  }

  /** Receipts not yet applied. */
  get pending(): number {
    return this.queue.length;
  }

  private schedule(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, ms);
  }

  /** Applies what is queued; resolves when done. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.flushing = this.flushOnce().finally(() => {
      this.flushing = null;
    });
    await this.flushing;
  }

  private async flushOnce(): Promise<void> {
    const batch = this.queue.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    try {
      this.count(await applyReceipts(this.db, batch));
    } catch (e) {
      if (isUnavailableError(e)) {
        // Keep them and try again later; a receipt is never dropped for an outage.
        this.queue.unshift(...batch);
        this.schedule(1000);
        return;
      }
      // Not an outage: one receipt may be at fault. Retrying the whole batch forever would
      // stop every receipt behind it, so apply each alone and drop (and log) only what fails.
      this.log.error({ err: e }, "applying receipts failed; applying them one by one");
      await this.applyEach(batch);
    }
    if (this.queue.length > 0) this.schedule(0);
  }

  private async applyEach(batch: Receipt[]): Promise<void> {
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i] as Receipt;
      try {
        this.count(await applyReceipts(this.db, [r]));
      } catch (e) {
        if (isUnavailableError(e)) {
          this.queue.unshift(...batch.slice(i));
          this.schedule(1000);
          return;
        }
        this.counts.failed += 1;
        this.log.error({ err: e, receipt: r.dedupeKey }, "receipt dropped: it cannot be applied");
      }
    }
  }

  private count(res: ReceiptResult): void {
    this.counts.applied += res.applied;
    this.counts.duplicates += res.duplicates;
    this.counts.ignored += res.ignored;
    this.counts.held += res.unmatched.length;
  }

  /** Applies everything queued, then stops the timer. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (let i = 0; i < 100 && this.queue.length > 0; i++) await this.flush();
    await this.flush();
  }
}
