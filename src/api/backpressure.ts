/**
 * Backpressure: a ceiling on messages waiting in the queue, globally and per API key. Beyond it
 * the API answers 429 with Retry-After instead of accepting work it cannot send in time. The
 * counts come from partial indexes and are cached for a second, so a busy API does not count on
 * every request; the ceiling can therefore be overshot by about one second of submissions.
 */
import { SmsqError } from "../errors.js";
import type { Db } from "../store/db.js";

export interface BackpressureSettings {
  /** Most messages waiting (queued) in all; null = no ceiling. */
  maxQueued: number | null;
  /** Most messages waiting per API key; null = no ceiling. */
  maxQueuedPerKey: number | null;
  /** How long a count is reused. */
  cacheMs?: number;
}

export class Backpressure {
  private total: { n: number; at: number } | null = null;
  private readonly perKey = new Map<string, { n: number; at: number }>();

  constructor(
    private readonly db: Db,
    private readonly s: BackpressureSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws `queue_full` (429) when `adding` more messages would pass a ceiling. */
  async check(apiKeyId: string, adding: number): Promise<void> {
    const { maxQueued, maxQueuedPerKey } = this.s;
    if (maxQueued !== null) {
      const n = await this.count("", () =>
        this.db.query<{ n: number }>(
          "select count(*)::int as n from smsq.messages where status = 'queued'",
        ),
      );
      if (n + adding > maxQueued) {
        this.full(`${n} messages are waiting; the ceiling is ${maxQueued}`);
      }
    }
    if (maxQueuedPerKey !== null) {
      const n = await this.count(apiKeyId, () =>
        this.db.query<{ n: number }>(
          "select count(*)::int as n from smsq.messages where status = 'queued' and api_key_id = $1",
          [apiKeyId],
        ),
      );
      if (n + adding > maxQueuedPerKey) {
        this.full(`${n} of this API key's messages are waiting; its ceiling is ${maxQueuedPerKey}`);
      }
    }
  }

  /** Counts what was just accepted, so the cached count stays close between refreshes. */
  added(apiKeyId: string, n: number): void {
    if (this.total) this.total.n += n;
    const k = this.perKey.get(apiKeyId);
    if (k) k.n += n;
  }

  private async count(key: string, q: () => Promise<{ n: number }[]>): Promise<number> {
    const t = this.now();
    const cached = key === "" ? this.total : this.perKey.get(key);
    if (cached && t - cached.at < (this.s.cacheMs ?? 1000)) return cached.n;
    const n = (await q())[0]?.n ?? 0;
    const entry = { n, at: t };
    if (key === "") this.total = entry;
    else this.perKey.set(key, entry);
    return n;
  }

  private full(message: string): never {
    throw new SmsqError("queue_full", `the queue is full: ${message}; try again later`);
  }
}
