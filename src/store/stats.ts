/**
 * The numbers behind GET /v1/stats, from four statements that each stay on an index:
 *
 * - attempts in the window, by `attempts_finished_idx` (finished_at);
 * - messages that reached a final status in the window, by `messages_completed_idx`;
 * - the messages retried in the window, by `attempts_retry_idx` (retry calls only), joined to
 *   their status;
 * - the queue: waiting and in-flight messages by lane, through the partial indexes of the claim
 *   and housekeeping (`messages_due_idx`, `messages_scheduled_idx`, `messages_leases_idx`), and
 *   messages still waiting for a receipt among those submitted in the window
 *   (`messages_status_idx` with an id bound: ids begin with their creation time).
 *
 * So the cost follows the rows of the window and the size of the queue, never the history.
 */
import { lowestIdAt } from "../messages/ids.js";
import type { Db } from "./db.js";

/** Buckets in the series, whatever the window: `window` minutes / 60 = `window` seconds each. */
export const BUCKETS = 60;
export const MAX_WINDOW_MINUTES = 1440;
export const DEFAULT_WINDOW_MINUTES = 60;
/** The error codes listed (most frequent first). */
export const TOP_CODES = 10;

export const LANES = ["high", "normal", "low"] as const;
export type LaneName = (typeof LANES)[number];

/** Final statuses counted in `outcomes`. */
export const OUTCOMES = [
  "delivered",
  "undelivered",
  "failed",
  "expired",
  "canceled",
  "suppressed",
] as const;
export type OutcomeStatus = (typeof OUTCOMES)[number];
type Outcomes = Record<OutcomeStatus, number>;

// Final statuses whose last error explains why the message did not arrive.
const ERROR_ENDINGS = ["failed", "undelivered", "expired"];
// Ended well after a retry: delivered, or accepted and waiting for its receipt.
const RETRY_SUCCESS = ["delivered", "sent"];
const PENDING = ["scheduled", "queued", "sending"];

export interface SeriesPoint {
  /** Start of the bucket. */
  at: string;
  /** Provider calls accepted (or found at the provider by reconciliation). */
  sent: number;
  /** Provider calls that failed or were abandoned. */
  failed: number;
  /** Messages whose final status `delivered` was recorded in the bucket. */
  delivered: number;
  /** Messages that ended `undelivered` or `failed` in the bucket. */
  undelivered: number;
}

export interface ErrorByClass {
  class: string | null;
  /** Failed or abandoned provider calls in the window. */
  attempts: number;
  /** Messages that ended failed, undelivered or expired in the window with this as last error. */
  messages: number;
}

export interface ErrorByCode extends ErrorByClass {
  code: string | null;
}

export interface LaneStats {
  lane: LaneName;
  /** Waiting in the queue (due now, or later: a retry's backoff, a cooldown). */
  queued: number;
  /** Of `queued`, due now. */
  due: number;
  /** How long the oldest due message has waited since it became due; null when none is due. */
  oldestDueSeconds: number | null;
  /** Claimed by a worker, provider call in flight. */
  sending: number;
  /** Accepted by the provider, waiting for a receipt: among messages submitted in the window. */
  sent: number;
  /** Messages that reached a final status in the window. */
  completed: Outcomes;
}

export interface AccountActivity {
  account: string;
  attempts: number;
  sent: number;
  failed: number;
  /** Mean provider call latency in the window, ms; null when no call was timed. */
  latencyMs: number | null;
}

export interface Stats {
  window: { minutes: number; bucketSeconds: number; since: string; until: string };
  series: SeriesPoint[];
  totals: {
    /** Provider calls finished in the window. */
    attempts: number;
    sent: number;
    failed: number;
    /** Messages that reached a final status in the window. */
    completed: number;
  };
  outcomes: Outcomes;
  /** delivered ÷ (delivered + undelivered + failed), of the messages that ended in the window. */
  deliveryRate: number | null;
  errors: { byClass: ErrorByClass[]; byCode: ErrorByCode[] };
  retries: {
    /** Messages with a second (or later) provider call in the window. */
    messages: number;
    /** … that are now delivered or sent. */
    succeeded: number;
    /** … that ended otherwise (failed, undelivered, expired, …). */
    failed: number;
    /** … still waiting or in flight: left out of the rate until they end. */
    pending: number;
    /** succeeded ÷ (succeeded + failed); null when none ended. */
    successRate: number | null;
  };
  /** Mean provider calls of the messages that ended in the window after at least one call. */
  attemptsPerMessage: number | null;
  queue: {
    /** Scheduled for later (all lanes). */
    scheduled: number;
    lanes: LaneStats[];
  };
  accounts: AccountActivity[];
}

export interface StatsOptions {
  windowMinutes?: number;
  /** The end of the window (default: the database's clock). */
  now?: Date;
}

const emptyOutcomes = (): Outcomes =>
  Object.fromEntries(OUTCOMES.map((s) => [s, 0])) as unknown as Outcomes;

const ratio = (a: number, b: number, digits = 4): number | null =>
  b > 0 ? Math.round((a / b) * 10 ** digits) / 10 ** digits : null;

// $1 since, $2 bucket seconds, $3 until. date_bin keeps the bucketing in integer arithmetic
// (extract(epoch …) would be numeric, twice the cost per row).
const ATTEMPTS = `
  select date_bin($2 * interval '1 second', finished_at, $1::timestamptz) as b,
         account, outcome, error_class, error_code,
         count(*)::int as n, coalesce(sum(latency_ms), 0)::float8 as latency,
         count(latency_ms)::int as timed
  from smsq.attempts
  where finished_at >= $1::timestamptz and finished_at <= $3::timestamptz
  group by 1, 2, 3, 4, 5`;

// The partial index's predicate (completed_at is not null) follows from the range.
const COMPLETED = `
  select date_bin($2 * interval '1 second', completed_at, $1::timestamptz) as b,
         lane, status,
         case when status = any($4::text[]) then last_error_class end as error_class,
         case when status = any($4::text[]) then last_error_code end as error_code,
         count(*)::int as n,
         coalesce(sum(attempts), 0)::int as calls,
         count(*) filter (where attempts > 0)::int as called
  from smsq.messages
  where completed_at >= $1::timestamptz and completed_at <= $3::timestamptz
  group by 1, 2, 3, 4, 5`;

// Messages with a second (or later) provider call in the window, by their status now. The
// partial index attempts_retry_idx holds only such calls, so this reads the retries alone. The
// CTE is planned on its own: folded into the join, PostgreSQL's estimates made it prefer a
// parallel scan of every call in the window (3× slower here).
const RETRIES = `
  with r as materialized (
    select distinct message_id from smsq.attempts
    where attempt > 1 and finished_at >= $1::timestamptz and finished_at <= $2::timestamptz
  )
  select m.status, count(*)::int as n
  from r join smsq.messages m on m.id = r.message_id
  group by m.status`;

// Each branch's status is written out (not a parameter) so the planner can pick the partial
// index whose predicate it matches.
const QUEUE = `
  select 'queued' as k, lane, count(*)::int as n,
         count(*) filter (where run_at <= $1::timestamptz)::int as due,
         extract(epoch from $1::timestamptz - min(run_at) filter (where run_at <= $1::timestamptz))
           ::float8 as oldest
  from smsq.messages where status = 'queued' group by lane
  union all
  select 'sending', lane, count(*)::int, 0, null
  from smsq.messages where status = 'sending' group by lane
  union all
  select 'sent', lane, count(*)::int, 0, null
  from smsq.messages where status = 'sent' and id >= $2 group by lane
  union all
  select 'scheduled', null, count(*)::int, 0, null
  from smsq.messages where status = 'scheduled'`;

interface AttemptGroup {
  b: Date;
  account: string;
  outcome: string;
  error_class: string | null;
  error_code: string | null;
  n: number;
  latency: number;
  timed: number;
  [k: string]: unknown;
}

interface CompletedGroup {
  b: Date;
  lane: number;
  status: string;
  error_class: string | null;
  error_code: string | null;
  n: number;
  calls: number;
  called: number;
  [k: string]: unknown;
}

/** The statements, by name, with their parameters: for the benchmark's EXPLAIN. */
export function statsQueries(since: Date, until: Date, bucketSeconds: number) {
  const s = since.toISOString();
  const u = until.toISOString();
  return {
    attempts: { sql: ATTEMPTS, params: [s, bucketSeconds, u] },
    completed: { sql: COMPLETED, params: [s, bucketSeconds, u, ERROR_ENDINGS] },
    retries: { sql: RETRIES, params: [s, u] },
    queue: { sql: QUEUE, params: [u, lowestIdAt(since.getTime())] },
  };
}

/** The window ending at `now`: 60 buckets of `minutes` seconds, aligned to whole buckets. */
export function statsWindow(minutes: number, now: Date) {
  const bucketSeconds = minutes;
  const bucketMs = bucketSeconds * 1000;
  const since = new Date(
    Math.floor(now.getTime() / bucketMs) * bucketMs - (BUCKETS - 1) * bucketMs,
  );
  return { bucketSeconds, since, until: now };
}

/** Computes the stats of the last `windowMinutes` (default 60). */
export async function getStats(db: Db, opts: StatsOptions = {}): Promise<Stats> {
  const minutes = opts.windowMinutes ?? DEFAULT_WINDOW_MINUTES;
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > MAX_WINDOW_MINUTES) {
    throw new RangeError(`window must be 1–${MAX_WINDOW_MINUTES} minutes`);
  }
  // The database's clock by default: it stamped the rows.
  const now =
    opts.now ?? (await db.query<{ now: Date }>("select now() as now"))[0]?.now ?? new Date();
  const { bucketSeconds, since, until } = statsWindow(minutes, new Date(now));
  const q = statsQueries(since, until, bucketSeconds);
  // Independent statements: on a PostgreSQL pool they run side by side.
  const [attempts, completed, retries, queue] = await Promise.all([
    db.query<AttemptGroup>(q.attempts.sql, q.attempts.params),
    db.query<CompletedGroup>(q.completed.sql, q.completed.params),
    db.query<{ status: string; n: number }>(q.retries.sql, q.retries.params),
    db.query<{ k: string; lane: number | null; n: number; due: number; oldest: number | null }>(
      q.queue.sql,
      q.queue.params,
    ),
  ]);

  const series: SeriesPoint[] = Array.from({ length: BUCKETS }, (_, i) => ({
    at: new Date(since.getTime() + i * bucketSeconds * 1000).toISOString(),
    sent: 0,
    failed: 0,
    delivered: 0,
    undelivered: 0,
  }));
  const bucketMs = bucketSeconds * 1000;
  const point = (b: Date) => {
    const i = Math.round((new Date(b).getTime() - since.getTime()) / bucketMs);
    return series[Math.max(0, Math.min(BUCKETS - 1, i))] as SeriesPoint;
  };

  const totals = { attempts: 0, sent: 0, failed: 0, completed: 0 };
  let calls = 0;
  let called = 0;
  const byClass = new Map<string, ErrorByClass>();
  const byCode = new Map<string, ErrorByCode>();
  const countError = (
    cls: string | null,
    code: string | null,
    field: "attempts" | "messages",
    n: number,
  ) => {
    const c = byClass.get(String(cls)) ?? { class: cls, attempts: 0, messages: 0 };
    c[field] += n;
    byClass.set(String(cls), c);
    const key = `${cls}\u0000${code}`;
    const e = byCode.get(key) ?? { code, class: cls, attempts: 0, messages: 0 };
    e[field] += n;
    byCode.set(key, e);
  };
  const accounts = new Map<string, AccountActivity & { latencySum: number; timed: number }>();

  for (const r of attempts) {
    const ok = r.outcome === "accepted" || r.outcome === "reconciled";
    const p = point(r.b);
    if (ok) p.sent += r.n;
    else p.failed += r.n;
    totals.attempts += r.n;
    if (ok) totals.sent += r.n;
    else totals.failed += r.n;
    if (!ok) countError(r.error_class, r.error_code, "attempts", r.n);
    const a = accounts.get(r.account) ?? {
      account: r.account,
      attempts: 0,
      sent: 0,
      failed: 0,
      latencyMs: null,
      latencySum: 0,
      timed: 0,
    };
    a.attempts += r.n;
    if (ok) a.sent += r.n;
    else a.failed += r.n;
    a.latencySum += r.latency;
    a.timed += r.timed;
    accounts.set(r.account, a);
  }

  const outcomes = emptyOutcomes();
  const lanes: LaneStats[] = LANES.map((lane) => ({
    lane,
    queued: 0,
    due: 0,
    oldestDueSeconds: null,
    sending: 0,
    sent: 0,
    completed: emptyOutcomes(),
  }));
  const laneOf = (lane: number | null) =>
    lanes[Math.max(0, Math.min(LANES.length - 1, lane ?? 0))] as LaneStats;
  for (const r of completed) {
    const status = r.status as OutcomeStatus;
    if (!(status in outcomes)) continue;
    outcomes[status] += r.n;
    laneOf(r.lane).completed[status] += r.n;
    totals.completed += r.n;
    calls += r.calls;
    called += r.called;
    if (status === "delivered") point(r.b).delivered += r.n;
    if (status === "undelivered" || status === "failed") point(r.b).undelivered += r.n;
    if (ERROR_ENDINGS.includes(status) && (r.error_code !== null || r.error_class !== null)) {
      countError(r.error_class, r.error_code, "messages", r.n);
    }
  }

  const retried = { messages: 0, succeeded: 0, failed: 0, pending: 0 };
  for (const r of retries) {
    retried.messages += r.n;
    if (RETRY_SUCCESS.includes(r.status)) retried.succeeded += r.n;
    else if (PENDING.includes(r.status)) retried.pending += r.n;
    else retried.failed += r.n;
  }

  let scheduled = 0;
  for (const r of queue) {
    if (r.k === "scheduled") {
      scheduled = r.n;
      continue;
    }
    const l = laneOf(r.lane);
    if (r.k === "queued") {
      l.queued = r.n;
      l.due = r.due;
      l.oldestDueSeconds = r.oldest === null ? null : Math.max(0, Math.round(r.oldest * 10) / 10);
    } else if (r.k === "sending") {
      l.sending = r.n;
    } else if (r.k === "sent") {
      l.sent = r.n;
    }
  }

  // Most frequent first; ties by name, so the order is stable between refreshes.
  const size = (e: ErrorByClass) => e.attempts + e.messages;
  const byName = (a: string | null, b: string | null) =>
    a === b ? 0 : a === null ? 1 : b === null ? -1 : a < b ? -1 : 1;
  return {
    window: {
      minutes,
      bucketSeconds,
      since: since.toISOString(),
      until: until.toISOString(),
    },
    series,
    totals,
    outcomes,
    deliveryRate: ratio(
      outcomes.delivered,
      outcomes.delivered + outcomes.undelivered + outcomes.failed,
    ),
    errors: {
      byClass: [...byClass.values()].sort((a, b) => size(b) - size(a) || byName(a.class, b.class)),
      byCode: [...byCode.values()]
        .sort((a, b) => size(b) - size(a) || byName(a.code, b.code) || byName(a.class, b.class))
        .slice(0, TOP_CODES),
    },
    retries: {
      ...retried,
      successRate: ratio(retried.succeeded, retried.succeeded + retried.failed),
    },
    attemptsPerMessage: ratio(calls, called, 3),
    queue: { scheduled, lanes },
    accounts: [...accounts.values()]
      .map(({ latencySum, timed, ...a }) => ({
        ...a,
        latencyMs: timed > 0 ? Math.round(latencySum / timed) : null,
      }))
      .sort((a, b) => a.account.localeCompare(b.account)),
  };
}
