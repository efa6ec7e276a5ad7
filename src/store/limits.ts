/**
 * The shared token buckets (smsq.rate_limits) and the limiter's claim. A limited claim is one
 * short transaction: lock the buckets it may spend (SKIP LOCKED: a worker never queues behind
 * another's claim, it leaves that bucket for its next round), lock due messages (SKIP LOCKED),
 * schedule them (src/limits/schedule.ts), then move the buckets and mark the admitted messages
 * `sending` before commit. Taking tokens and claiming are therefore one atomic step: two
 * workers can never spend the same slot.
 */
import { onAccepted, DEFAULT_AIMD, type AimdSettings } from "../limits/aimd.js";
import {
  schedule,
  WINDOW_GUARD_MS,
  WINDOW_MS,
  type AccountLimits,
  type BucketState,
  type Candidate,
} from "../limits/schedule.js";
import type { Db, Queryable } from "./db.js";
import { ClockOffset, dbClock } from "./clock.js";
import { dueCtes, type ClaimedMessage, type UsableAccount } from "./dispatch.js";

/** A bucket as configured: written at start (the learned rate is kept across restarts). */
export interface BucketSpec {
  key: string;
  account: string | null;
  sender: string | null;
  /** Segments per second; null: no rate at this level (an in-flight cap only). */
  ceiling: number | null;
  maxInFlight: number | null;
}

/**
 * Writes the configured buckets. A rate learned below the ceiling is kept; one that had reached
 * the old ceiling follows the new one; a lowered ceiling caps it.
 */
export async function syncBuckets(db: Db, specs: readonly BucketSpec[]): Promise<void> {
  if (specs.length === 0) return;
  await db.query(
    `insert into smsq.rate_limits as r (key, account, sender, ceiling, rate, max_in_flight)
     select key, account, sender, ceiling, ceiling, max_in_flight
     from unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::int[])
       as v(key, account, sender, ceiling, max_in_flight)
     on conflict (key) do update
     set ceiling = excluded.ceiling, max_in_flight = excluded.max_in_flight,
         rate = case when r.rate is null or r.ceiling is null or r.rate >= r.ceiling
                     or excluded.ceiling is null then excluded.ceiling
                     else least(r.rate, excluded.ceiling) end,
         updated_at = now()`,
    [
      specs.map((s) => s.key),
      specs.map((s) => s.account),
      specs.map((s) => s.sender),
      specs.map((s) => s.ceiling),
      specs.map((s) => s.maxInFlight),
    ],
  );
}

/** One bucket as stored. */
export interface BucketRow {
  key: string;
  account: string | null;
  sender: string | null;
  ceiling: number | null;
  rate: number | null;
  max_in_flight: number | null;
  /** Next free slot, ms since the epoch (sub-millisecond: a Date would round slots). */
  tat: number;
  recent_at: number[];
  recent_segments: number[];
  cooldown_until: Date | null;
  cooldown_count: number;
  last_limited_rate: number | null;
  last_limited_at: Date | null;
  successes: number;
  limited_total: number;
  accepted_total: number;
  updated_at: Date;
  [k: string]: unknown;
}

/** Buckets faster than this keep no log of their last second (see BucketState.window). */
const MAX_LOGGED_RATE = 500;

export const num = (v: unknown): number => (typeof v === "number" ? v : Number(v));

export function normalise(r: BucketRow): BucketRow {
  return {
    ...r,
    tat: num(r.tat),
    recent_at: (r.recent_at ?? []).map(num),
    recent_segments: (r.recent_segments ?? []).map(num),
    successes: num(r.successes),
    limited_total: num(r.limited_total),
    accepted_total: num(r.accepted_total),
  };
}

/** Every bucket, for the API and metrics. */
export async function readBuckets(db: Db): Promise<BucketRow[]> {
  const rows = await db.query<BucketRow>(`select * from smsq.rate_limits order by key`);
  return rows.map(normalise);
}

/** What the dispatcher knows about limits for one claim. */
export interface LimitedClaimOptions {
  workerId: string;
  /** Candidates to look at (due messages, in order). */
  limit: number;
  leaseMs: number;
  accounts: readonly UsableAccount[];
  lane?: number;
  /** Messages that can start within this many ms are taken; later ones wait. */
  horizonMs: number;
  /** Share of each rate kept back, so jitter on the way never tips a second over the limit. */
  headroom: number;
  globalKey: string | null;
  /** Limited accounts by name: account bucket, pool, stickiness. */
  plan: ReadonlyMap<string, AccountPlan>;
  /** Successes to credit to buckets, collected since this worker last held them. */
  accepted: Map<string, number>;
  /** This process's estimate of (local clock - database clock); updated by each claim. */
  clock?: ClockOffset;
  aimd?: AimdSettings;
}

export interface AccountPlan {
  key: string | null;
  pool: readonly { from: string; key: string; capacity: number }[];
  sticky: boolean;
  maxInFlight: number | null;
  senderKey: (from: string) => string | null;
  /** The bucket for an explicit sender outside the pool, created on first use. */
  senderSpec: (from: string) => BucketSpec | null;
}

export interface LimitedClaim {
  /** Each with its slot: `sendAt` on the database's clock, `sendAtLocal` on this process's. */
  messages: (ClaimedMessage & { sendAt: number; sendAtLocal: number })[];
  /** Earliest moment (local ms) something this round skipped could start; null: unknown. */
  nextAtLocal: number | null;
  /** Buckets another worker held this round. */
  busy: number;
  /** The held buckets' working rates (after headroom) and window caps, for local pacing. */
  rates: Map<string, { rate: number; cap: number | null }>;
}

interface CandidateRow {
  id: string;
  account: string;
  provider: string;
  segments: number;
  from_number: string | null;
  sender: string | null;
  in_doubt: boolean;
  to_number: string;
  [k: string]: unknown;
}

const CANDIDATES = `
  ${dueCtes({ limit: 1, accounts: 2, providers: 3, positions: 4, probe: 5, prefixes: 6, anyPrefix: 7, lane: 8 })}
  select c.id, c.account, c.provider, m.segments, m.from_number, m.sender, m.in_doubt,
         m.to_number
  from chosen c join smsq.messages m on m.id = c.id
  order by c.lane, c.run_at`;

const TAKE = `
  with v as (
    select * from unnest($1::text[], $2::text[], $3::text[], $4::text[]) as v(id, account, provider, sender)
  )
  update smsq.messages m
  set status = 'sending', lease_owner = $5,
      lease_expires_at = now() + $6 * interval '1 millisecond',
      attempts = m.attempts + 1, account = v.account, provider = v.provider,
      sender = case when m.in_doubt and m.sender is not null then m.sender else v.sender end,
      updated_at = now()
  from v
  where m.id = v.id and m.status = 'queued'
  returning m.*, exists (select 1 from smsq.suppressions s where s.phone = m.to_number) as suppressed`;

/** Claims due messages within every limit that applies to them; see the module comment. */
export async function claimLimited(db: Db, o: LimitedClaimOptions): Promise<LimitedClaim> {
  if (o.accounts.length === 0) {
    return { messages: [], nextAtLocal: null, busy: 0, rates: new Map() };
  }
  const names = o.accounts.map((a) => a.account);
  const offset = await (o.clock ?? new ClockOffset()).get(db);
  return db.transaction(async (tx) => {
    const locked = await tx.query<BucketRow & { now_ms: number }>(
      `select r.*, extract(epoch from clock_timestamp()) * 1000 as now_ms
       from smsq.rate_limits r
       where r.key = $1 or r.account = any($2::text[])
       for update skip locked`,
      [o.globalKey ?? "", names],
    );
    const dbNow = locked.length > 0 ? num(locked[0]?.now_ms) : await dbClock(tx);
    const rows = new Map(locked.map((r) => [r.key, normalise(r)]));
    if (o.globalKey !== null && !rows.has(o.globalKey)) {
      return { messages: [], nextAtLocal: null, busy: 1, rates: new Map() };
    }
    // Accounts whose own bucket another worker holds sit this round out.
    const accounts = o.accounts.filter((a) => {
      const p = o.plan.get(a.account);
      return !p || p.key === null || rows.has(p.key);
    });
    const busy = o.accounts.length - accounts.length;
    if (accounts.length === 0) return { messages: [], nextAtLocal: null, busy, rates: new Map() };

    const found = await tx.query<CandidateRow>(CANDIDATES, [
      o.limit,
      accounts.map((a) => a.account),
      accounts.map((a) => a.provider),
      accounts.map((a) => a.position),
      false,
      accounts.map((a) => (a.destinations ?? []).join(",")),
      accounts.some((a) => (a.destinations ?? []).length > 0),
      o.lane ?? null,
    ]);
    if (found.length === 0) {
      await saveBuckets(tx, rows, new Map(), o, new Map(), 0);
      return { messages: [], nextAtLocal: null, busy, rates: new Map() };
    }
    const candidates: Candidate[] = found.map((c) => ({
      id: c.id,
      account: c.account,
      segments: c.segments,
      from: c.from_number ?? (c.in_doubt ? c.sender : null),
      to: c.to_number,
    }));
    await addSenders(tx, candidates, rows, o.plan);

    const inFlight = await countInFlight(tx, o.plan, names);
    const buckets = new Map<string, BucketState>();
    for (const r of rows.values()) {
      buckets.set(r.key, {
        key: r.key,
        rate: r.rate === null ? null : r.rate * (1 - o.headroom),
        tat: r.tat,
        cooldownUntil: r.cooldown_until?.getTime() ?? null,
        // Above this rate one segment more in a second is noise: spacing alone, no log.
        window:
          r.rate !== null && r.rate <= MAX_LOGGED_RATE
            ? {
                cap: Math.max(1, Math.floor(r.rate * (WINDOW_MS / 1000) + 1e-9)),
                recent: r.recent_at.map((at, i) => ({ at, k: r.recent_segments[i] ?? 1 })),
              }
            : undefined,
      });
    }
    const limits = new Map<string, AccountLimits>();
    for (const [name, p] of o.plan) {
      limits.set(name, {
        key: p.key,
        pool: p.pool,
        sticky: p.sticky,
        inFlight: inFlight.get(name) ?? 0,
        maxInFlight: p.maxInFlight,
        senderKey: p.senderKey,
      });
    }
    const rates = new Map<string, { rate: number; cap: number | null }>();
    for (const b of buckets.values()) {
      if (b.rate !== null) rates.set(b.key, { rate: b.rate, cap: b.window?.cap ?? null });
    }
    const plan = schedule({
      now: dbNow,
      horizonMs: o.horizonMs,
      buckets,
      accounts: limits,
      globalKey: o.globalKey,
      candidates,
    });
    await saveBuckets(tx, rows, plan.tats, o, buckets, dbNow);
    if (plan.admitted.length === 0) {
      return {
        messages: [],
        nextAtLocal: plan.nextAt === null ? null : plan.nextAt + offset,
        busy,
        rates,
      };
    }
    const provider = new Map(found.map((c) => [c.id, c.provider]));
    const taken = await tx.query<ClaimedMessage>(TAKE, [
      plan.admitted.map((a) => a.id),
      plan.admitted.map((a) => a.account),
      plan.admitted.map((a) => provider.get(a.id) as string),
      plan.admitted.map((a) => a.from),
      o.workerId,
      o.leaseMs,
    ]);
    const at = new Map(plan.admitted.map((a) => [a.id, a.sendAt]));
    const messages = taken
      .map((m) => {
        const sendAt = at.get(m.id) ?? dbNow;
        return { ...m, sendAt, sendAtLocal: sendAt + offset };
      })
      .sort((a, b) => a.sendAtLocal - b.sendAtLocal);
    return {
      messages,
      nextAtLocal: plan.nextAt === null ? null : plan.nextAt + offset,
      busy,
      rates,
    };
  });
}

// Explicit senders outside every pool get a bucket of their own (by sender type) on first use.
// A new row is locked by its insert; a conflict means another worker has just made and holds it.
async function addSenders(
  tx: Queryable,
  candidates: readonly Candidate[],
  rows: Map<string, BucketRow>,
  plan: ReadonlyMap<string, AccountPlan>,
): Promise<void> {
  const specs = new Map<string, BucketSpec>();
  for (const c of candidates) {
    const p = plan.get(c.account);
    if (!p || c.from === null) continue;
    const key = p.senderKey(c.from);
    if (key === null || rows.has(key) || specs.has(key)) continue;
    const spec = p.senderSpec(c.from);
    if (spec) specs.set(key, spec);
  }
  if (specs.size === 0) return;
  const list = [...specs.values()];
  const made = await tx.query<BucketRow>(
    `insert into smsq.rate_limits (key, account, sender, ceiling, rate, max_in_flight)
     select key, account, sender, ceiling, ceiling, null
     from unnest($1::text[], $2::text[], $3::text[], $4::float8[])
       as v(key, account, sender, ceiling)
     on conflict (key) do nothing
     returning *`,
    [
      list.map((s) => s.key),
      list.map((s) => s.account),
      list.map((s) => s.sender),
      list.map((s) => s.ceiling),
    ],
  );
  for (const r of made) rows.set(r.key, normalise(r));
}

async function countInFlight(
  tx: Queryable,
  plan: ReadonlyMap<string, AccountPlan>,
  names: readonly string[],
): Promise<Map<string, number>> {
  const capped = names.filter((n) => (plan.get(n)?.maxInFlight ?? null) !== null);
  if (capped.length === 0) return new Map();
  // messages_leases_idx covers status = 'sending': the rows in flight, never the backlog.
  const rows = await tx.query<{ account: string; n: number }>(
    `select account, count(*)::int as n from smsq.messages
     where status = 'sending' and account = any($1::text[])
     group by account`,
    [capped],
  );
  return new Map(rows.map((r) => [r.account, num(r.n)]));
}

// Moves the held buckets: new next-free slots, and the rate increases earned by the successes
// this worker saw since it last held them (credited only to buckets it holds now).
async function saveBuckets(
  tx: Queryable,
  rows: Map<string, BucketRow>,
  tats: Map<string, number>,
  o: LimitedClaimOptions,
  states: Map<string, BucketState>,
  dbNow: number,
): Promise<void> {
  const keys: string[] = [];
  const recentAt: string[] = [];
  const recentSegs: string[] = [];
  const tatList: (number | null)[] = [];
  const rates: (number | null)[] = [];
  const successes: number[] = [];
  const accepted: number[] = [];
  for (const r of rows.values()) {
    const credit = o.accepted.get(r.key) ?? 0;
    const t = tats.get(r.key);
    if (credit === 0 && t === undefined) continue;
    o.accepted.delete(r.key);
    let rate = r.rate;
    let succ = r.successes;
    if (credit > 0 && r.rate !== null && r.ceiling !== null) {
      const next = onAccepted(
        {
          ceiling: r.ceiling,
          rate: r.rate,
          successes: r.successes,
          cooldownCount: r.cooldown_count,
          lastLimitedRate: r.last_limited_rate,
        },
        credit,
        o.aimd ?? DEFAULT_AIMD,
      );
      rate = next.rate;
      succ = next.successes;
    }
    keys.push(r.key);
    tatList.push(t === undefined ? null : t);
    // Sends older than a second no longer count; arrays travel as literals ("{1,2}").
    const recent = (states.get(r.key)?.window?.recent ?? []).filter(
      (e) => e.at > dbNow - WINDOW_MS - WINDOW_GUARD_MS,
    );
    recentAt.push(`{${recent.map((e) => e.at).join(",")}}`);
    recentSegs.push(`{${recent.map((e) => e.k).join(",")}}`);
    rates.push(rate);
    successes.push(succ);
    accepted.push(credit);
  }
  if (keys.length === 0) return;
  await tx.query(
    `update smsq.rate_limits r
     set tat = coalesce(v.tat, r.tat), rate = v.rate, successes = v.successes,
         recent_at = case when v.tat is null then r.recent_at else v.recent_at::float8[] end,
         recent_segments = case when v.tat is null then r.recent_segments
                                else v.recent_segments::int[] end,
         accepted_total = r.accepted_total + v.accepted,
         cooldown_count = case when v.accepted > 0 then 0 else r.cooldown_count end,
         updated_at = now()
     from unnest($1::text[], $2::float8[], $3::float8[], $4::bigint[], $5::bigint[],
                 $6::text[], $7::text[])
       as v(key, tat, rate, successes, accepted, recent_at, recent_segments)
     where r.key = v.key`,
    [keys, tatList, rates, successes, accepted, recentAt, recentSegs],
  );
}
