/**
 * Rate-limit signals: a provider refused a call for its rate, so the bucket's working rate
 * drops (AIMD, src/limits/aimd.ts) and it pauses, for every worker.
 */
import { onLimited, DEFAULT_AIMD, type AimdSettings, type WindowEstimate } from "../limits/aimd.js";
import type { Db, Queryable } from "./db.js";
import { normalise, num, type BucketRow } from "./limits.js";

/** A rate-limit signal from the provider for one bucket. */
export interface LimitSignal {
  key: string;
  /** When the refused call started: signals about calls made before the last decrease count once. */
  startedAt: Date;
  retryAfterMs: number | null;
  /** The provider's counting window for this bucket (account buckets; null: unknown). */
  windowMs?: number | null;
  /** The account the refused call went through (to count what its window accepted). */
  account?: string;
  /** Accepted calls the signalling worker made that are not in the audit trail yet. */
  unrecorded?: number;
}

/**
 * Applies rate-limit signals: the working rate drops by the AIMD factor and the bucket pauses.
 * Waits for the bucket's lock (a claim holds it for a few ms): a signal must not be lost.
 * Returns the keys whose rate moved.
 */
export async function applyLimitSignals(
  db: Db,
  signals: readonly LimitSignal[],
  aimd: AimdSettings = DEFAULT_AIMD,
): Promise<string[]> {
  if (signals.length === 0) return [];
  const byKey = new Map<string, LimitSignal>();
  for (const s of signals) {
    const prev = byKey.get(s.key);
    // The latest call decides; Retry-After: the longest asked.
    if (!prev || s.startedAt > prev.startedAt) {
      byKey.set(s.key, {
        ...s,
        retryAfterMs: maxNullable(s.retryAfterMs, prev?.retryAfterMs ?? null),
      });
    } else {
      prev.retryAfterMs = maxNullable(s.retryAfterMs, prev.retryAfterMs);
    }
  }
  const moved: string[] = [];
  await db.transaction(async (tx) => {
    const rows = await tx.query<BucketRow>(
      `select * from smsq.rate_limits where key = any($1::text[]) order by key for update`,
      [[...byKey.keys()]],
    );
    for (const raw of rows) {
      const r = normalise(raw);
      const s = byKey.get(r.key) as LimitSignal;
      // A refusal of a call made before the last decrease is part of the same episode.
      const fresh = r.last_limited_at === null || s.startedAt > r.last_limited_at;
      if (!fresh || r.rate === null || r.ceiling === null) {
        await tx.query(
          `update smsq.rate_limits set limited_total = limited_total + 1 where key = $1`,
          [r.key],
        );
        continue;
      }
      const next = onLimited(
        {
          ceiling: r.ceiling,
          rate: r.rate,
          successes: r.successes,
          cooldownCount: r.cooldown_count,
          lastLimitedRate: r.last_limited_rate,
        },
        s.retryAfterMs,
        aimd,
        await windowEstimate(tx, s),
      );
      await tx.query(
        `update smsq.rate_limits
         set rate = $2, cooldown_count = $3, last_limited_rate = coalesce($4, last_limited_rate),
             last_limited_at = clock_timestamp(),
             cooldown_until = greatest(cooldown_until, clock_timestamp() + $5 * interval '1 millisecond'),
             successes = 0, limited_total = limited_total + 1, updated_at = now()
         where key = $1`,
        [r.key, next.rate, next.cooldownCount, next.lastLimitedRate, next.cooldownMs],
      );
      moved.push(r.key);
    }
  });
  return moved;
}

// What the provider accepted through this account within its counting window, from the audit
// trail (attempts_finished_idx keeps it to the window's rows).
async function windowEstimate(tx: Queryable, s: LimitSignal): Promise<WindowEstimate | null> {
  if (!s.windowMs || !s.account) return null;
  const [row] = await tx.query<{ n: number; oldest_ms: number | null; now_ms: number }>(
    `select count(*)::int as n, extract(epoch from min(finished_at)) * 1000 as oldest_ms,
            extract(epoch from clock_timestamp()) * 1000 as now_ms
     from smsq.attempts
     where finished_at > clock_timestamp() - $2 * interval '1 millisecond'
       and account = $1 and outcome = 'accepted'`,
    [s.account, s.windowMs],
  );
  const n = num(row?.n ?? 0) + (s.unrecorded ?? 0);
  if (!row || n === 0) return null;
  const oldest = row.oldest_ms === null ? num(row.now_ms) : num(row.oldest_ms);
  return {
    perSecond: n / (s.windowMs / 1000),
    freeInMs: Math.max(0, oldest + s.windowMs - num(row.now_ms)),
  };
}

function maxNullable(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}
