/**
 * Group commit for status callbacks: the receipts of concurrent requests are applied together,
 * in one statement, and each request is answered only once its receipts are committed (a
 * provider must retry a callback we lose in a crash, so nothing is acknowledged before).
 *
 * When nothing is being applied, a request's receipts go at once (after the requests parsed in
 * the same turn of the event loop join them): an idle server adds no latency. While a batch is
 * being applied, the next one gathers, up to `maxBatch` receipts; so under load batches grow
 * with the commit time, and a request waits for at most the batch ahead of its own.
 */
import { isUnavailableError } from "../store/db.js";
import type { Receipt, ReceiptResult } from "../store/receipts.js";

/** Applies receipts (store/receipts.ts applyReceipts over a database), in order. */
export type ApplyFn = (receipts: readonly Receipt[]) => Promise<ReceiptResult>;

export interface ReceiptBatcherOptions {
  /** The most receipts applied together (one request's receipts are never split). */
  maxBatch?: number;
  /** Called with each batch's result, once committed (for counters). */
  onApplied?: (result: ReceiptResult) => void;
}

interface Waiter {
  receipts: readonly Receipt[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class ReceiptBatcher {
  private queue: Waiter[] = [];
  private queued = 0;
  private running = false;
  private scheduled = false;
  private readonly maxBatch: number;

  constructor(
    private readonly applyFn: ApplyFn,
    private readonly opts: ReceiptBatcherOptions = {},
  ) {
    this.maxBatch = Math.max(1, opts.maxBatch ?? 200);
  }

  /** Applies `receipts` with whatever else is waiting; resolves once they are committed. */
  apply(receipts: readonly Receipt[]): Promise<void> {
    if (receipts.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ receipts, resolve, reject });
      this.queued += receipts.length;
      this.kick();
    });
  }

  /** Receipts waiting for a batch (not counting the one being applied). */
  get pending(): number {
    return this.queued;
  }

  private kick(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    // setImmediate, not a timer: it runs right after this turn's I/O callbacks, so requests
    // that arrived together share a batch, and a lone request waits for nothing.
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) await this.flush(this.take());
    } finally {
      this.running = false;
    }
  }

  /** The next batch: whole requests, up to maxBatch receipts (always at least one request). */
  private take(): Waiter[] {
    let n = 0;
    let i = 0;
    while (i < this.queue.length) {
      const size = (this.queue[i] as Waiter).receipts.length;
      if (i > 0 && n + size > this.maxBatch) break;
      n += size;
      i += 1;
    }
    this.queued -= n;
    return this.queue.splice(0, i);
  }

  private async flush(batch: Waiter[]): Promise<void> {
    let result: ReceiptResult;
    try {
      result = await this.applyFn(batch.flatMap((w) => w.receipts));
    } catch (e) {
      await this.failed(batch, e);
      return;
    }
    this.opts.onApplied?.(result);
    for (const w of batch) w.resolve();
  }

  private async failed(batch: Waiter[], e: unknown): Promise<void> {
    // The store is down: every request of the batch fails alike (503; the provider retries).
    // Any other error may be one request's doing: the batch was one statement and committed
    // nothing, so apply each request alone, and only those whose receipts fail get the error.
    if (batch.length === 1 || isUnavailableError(e)) {
      for (const w of batch) w.reject(e);
      return;
    }
    for (const w of batch) {
      let result: ReceiptResult;
      try {
        result = await this.applyFn(w.receipts);
      } catch (err) {
        w.reject(err);
        continue;
      }
      this.opts.onApplied?.(result);
      w.resolve();
    }
  }
}
