/**
 * Deadlines: when will a new message be sent, at the current backlog and working rate? A
 * message whose validUntil that estimate already misses is refused at submit (or accepted and
 * flagged, if the caller asks), instead of expiring silently in the queue later: a one-time
 * code that arrives after it stopped working is worse than none.
 *
 * The estimate is deliberately simple: the segments queued ahead of it (its own lane and the
 * higher ones) divided by the route's first account's working rate (its account bucket, or its
 * senders' total, whichever is lower; a global cap too). Both are read from the store and
 * reused for a second, so a busy API does not count on every request.
 */
import { SmsqError } from "../errors.js";
import type { NewMessage } from "../messages/validate.js";
import type { Db } from "../store/db.js";
import { readBuckets, type BucketRow } from "../store/limits.js";

export interface DeadlineSettings {
  /** The account messages go through first (the route's first). */
  account: string;
  cacheMs?: number;
}

interface Snapshot {
  at: number;
  /** Queued segments per lane (0 high, 1 normal, 2 low). */
  lanes: number[];
  buckets: BucketRow[];
}

export class SendEstimator {
  private snap: Snapshot | null = null;
  private loading: Promise<Snapshot> | null = null;

  constructor(
    private readonly db: Db,
    private readonly s: DeadlineSettings,
    private readonly now: () => number = Date.now,
  ) {}

  private async snapshot(): Promise<Snapshot> {
    const t = this.now();
    if (this.snap && t - this.snap.at < (this.s.cacheMs ?? 1000)) return this.snap;
    this.loading ??= (async () => {
      try {
        // messages_due_idx holds only queued rows: the backlog, never the history.
        const rows = await this.db.query<{ lane: number; segments: number }>(
          `select lane, coalesce(sum(segments), 0)::bigint as segments
           from smsq.messages where status = 'queued' group by lane`,
        );
        const lanes = [0, 0, 0];
        for (const r of rows) lanes[Number(r.lane)] = Number(r.segments);
        this.snap = { at: this.now(), lanes, buckets: await readBuckets(this.db) };
        return this.snap;
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  /** Segments per second the message can go out at; null when no rate limits it. */
  private rateFor(m: NewMessage, buckets: readonly BucketRow[]): number | null {
    const rates: number[] = [];
    const mine = buckets.filter((b) => b.account === this.s.account && b.rate !== null);
    const account = mine.find((b) => b.sender === null);
    if (account?.rate) rates.push(account.rate);
    const senders = mine.filter((b) => b.sender !== null);
    const own = m.from ? senders.find((b) => b.sender === m.from) : undefined;
    if (own?.rate) rates.push(own.rate);
    else if (!m.from && senders.length > 0) {
      rates.push(senders.reduce((sum, b) => sum + (b.rate ?? 0), 0));
    }
    const global = buckets.find((b) => b.key === "global" && b.rate !== null);
    if (global?.rate) rates.push(global.rate);
    return rates.length > 0 ? Math.min(...rates) : null;
  }

  /** When `m` should be sent, or null when no rate limit applies (at once). */
  async estimate(m: NewMessage): Promise<Date | null> {
    const snap = await this.snapshot();
    const rate = this.rateFor(m, snap.buckets);
    if (rate === null || rate <= 0) return null;
    const ahead = snap.lanes.slice(0, m.lane + 1).reduce((a, b) => a + b, 0) + m.segments;
    const start = Math.max(this.now(), m.sendAt?.getTime() ?? 0);
    return new Date(start + (ahead / rate) * 1000);
  }

  /**
   * Sets the message's estimate; throws `deadline_unmeetable` when its validUntil falls before
   * it, unless `accept` (then it is flagged). `field` names validUntil in the error.
   */
  async apply(m: NewMessage, accept: boolean, field = "validUntil"): Promise<void> {
    const at = await this.estimate(m);
    m.estimatedSendAt = at;
    if (at === null || m.validUntil === null || m.validUntil >= at) return;
    if (accept) {
      m.deadlineAtRisk = true;
      return;
    }
    throw new SmsqError(
      "deadline_unmeetable",
      `at the current backlog and rate it would be sent around ${at.toISOString()}, after its validUntil; ` +
        `send it with a later validUntil, or onDeadline "accept" to queue it anyway`,
      field,
    );
  }

  /** Counts what was just accepted, so the cached backlog stays close between refreshes. */
  added(m: NewMessage): void {
    if (this.snap && m.status === "queued") {
      this.snap.lanes[m.lane] = (this.snap.lanes[m.lane] ?? 0) + m.segments;
    }
  }
}
