/**
 * Per-account state shared by every worker: the circuit breaker (closed, open, half-open) and
 * the rate-limit cooldown. One small row per account; workers read it once per claim round and
 * change it with guarded updates, so two workers cannot both win the half-open probe.
 */
import type { Db } from "./db.js";

export type CircuitState = "closed" | "open" | "half_open";

export interface AccountState {
  account: string;
  circuit: CircuitState;
  circuitReason: string | null;
  openedAt: Date | null;
  nextProbeAt: Date | null;
  openCount: number;
  cooldownUntil: Date | null;
  cooldownReason: string | null;
  /** Provider calls and segments accepted today (UTC). */
  attemptsToday: number;
  segmentsToday: number;
  updatedAt: Date;
}

interface Row {
  account: string;
  circuit: CircuitState;
  circuit_reason: string | null;
  opened_at: Date | null;
  next_probe_at: Date | null;
  open_count: number;
  cooldown_until: Date | null;
  cooldown_reason: string | null;
  today_attempts: number;
  today_segments: number;
  updated_at: Date;
  [k: string]: unknown;
}

const toState = (r: Row): AccountState => ({
  account: r.account,
  circuit: r.circuit,
  circuitReason: r.circuit_reason,
  openedAt: r.opened_at,
  nextProbeAt: r.next_probe_at,
  openCount: r.open_count,
  cooldownUntil: r.cooldown_until,
  cooldownReason: r.cooldown_reason,
  attemptsToday: r.today_attempts ?? 0,
  segmentsToday: r.today_segments ?? 0,
  updatedAt: r.updated_at,
});

// The day's counters read as zero once the (UTC) day has changed.
const SELECT = `
  select *,
         case when day = (now() at time zone 'utc')::date then day_attempts else 0 end
           as today_attempts,
         case when day = (now() at time zone 'utc')::date then day_segments else 0 end
           as today_segments
  from smsq.account_state`;

const closed = (account: string): AccountState => ({
  account,
  circuit: "closed",
  circuitReason: null,
  openedAt: null,
  nextProbeAt: null,
  openCount: 0,
  cooldownUntil: null,
  cooldownReason: null,
  attemptsToday: 0,
  segmentsToday: 0,
  updatedAt: new Date(0),
});

/** The account's state (closed and cool when it has no row yet). */
export async function getAccountState(db: Db, account: string): Promise<AccountState> {
  const rows = await db.query<Row>(`${SELECT} where account = $1`, [account]);
  return rows[0] ? toState(rows[0]) : closed(account);
}

/** Every account with a state row. */
export async function listAccountStates(db: Db): Promise<AccountState[]> {
  const rows = await db.query<Row>(`${SELECT} order by account`);
  return rows.map(toState);
}

/**
 * Opens the circuit (or re-opens it after a failed probe). The probe delay doubles with each
 * consecutive opening, up to `maxProbeMs`. Returns true when this call changed the state from
 * something other than open (so the caller alerts once, not once per message).
 */
export async function openCircuit(
  db: Db,
  account: string,
  reason: string,
  probeMs: number,
  maxProbeMs: number,
): Promise<boolean> {
  const rows = await db.query<{ was: CircuitState | null }>(
    `with prev as (select circuit from smsq.account_state where account = $1)
     insert into smsq.account_state (account, circuit, circuit_reason, opened_at, next_probe_at,
                                     open_count, updated_at)
     values ($1, 'open', $2, now(), now() + $3::bigint * interval '1 millisecond', 1, now())
     on conflict (account) do update
       set circuit = 'open',
           circuit_reason = excluded.circuit_reason,
           opened_at = case when smsq.account_state.circuit = 'open'
                            then smsq.account_state.opened_at else now() end,
           open_count = case when smsq.account_state.circuit = 'open'
                             then smsq.account_state.open_count
                             else smsq.account_state.open_count + 1 end,
           next_probe_at = now() + least($4::bigint,
             $3::bigint * power(2, least(smsq.account_state.open_count, 20))::bigint)
             * interval '1 millisecond',
           updated_at = now()
     returning (select circuit from prev) as was`,
    [account, reason, probeMs, maxProbeMs],
  );
  return rows[0]?.was !== "open";
}

/**
 * Takes the half-open probe: succeeds for exactly one worker once the probe time has come (or
 * when a previous prober went silent for `staleMs`).
 */
export async function takeProbe(db: Db, account: string, staleMs: number): Promise<boolean> {
  const rows = await db.query(
    `update smsq.account_state
     set circuit = 'half_open', updated_at = now()
     where account = $1
       and ((circuit = 'open' and next_probe_at <= now())
         or (circuit = 'half_open' and updated_at < now() - $2 * interval '1 millisecond'))
     returning account`,
    [account, staleMs],
  );
  return rows.length > 0;
}

/** Closes the circuit; returns true when it was not closed before. */
export async function closeCircuit(db: Db, account: string): Promise<boolean> {
  const rows = await db.query(
    `update smsq.account_state
     set circuit = 'closed', circuit_reason = null, next_probe_at = null, open_count = 0,
         updated_at = now()
     where account = $1 and circuit <> 'closed'
     returning account`,
    [account],
  );
  return rows.length > 0;
}

/** Starts (or extends) a rate-limit cooldown until `until`. */
export async function coolDown(
  db: Db,
  account: string,
  until: Date,
  reason: string,
): Promise<void> {
  await db.query(
    `insert into smsq.account_state (account, cooldown_until, cooldown_reason, updated_at)
     values ($1, $2, $3, now())
     on conflict (account) do update
       set cooldown_until = greatest(coalesce(smsq.account_state.cooldown_until, $2), $2),
           cooldown_reason = $3, updated_at = now()`,
    [account, until.toISOString(), reason],
  );
}

/**
 * Adds a batch's provider calls and accepted segments to each account's count for today (UTC),
 * starting the count afresh on a new day. One statement per batch.
 */
export async function countUsage(
  db: Db,
  usage: readonly { account: string; attempts: number; segments: number }[],
): Promise<void> {
  if (usage.length === 0) return;
  await db.query(
    `insert into smsq.account_state (account, day, day_attempts, day_segments, updated_at)
     select a, (now() at time zone 'utc')::date, n, g, now()
     from unnest($1::text[], $2::int[], $3::int[]) as t(a, n, g)
     on conflict (account) do update
       set day_attempts = case when smsq.account_state.day = excluded.day
                               then smsq.account_state.day_attempts + excluded.day_attempts
                               else excluded.day_attempts end,
           day_segments = case when smsq.account_state.day = excluded.day
                               then smsq.account_state.day_segments + excluded.day_segments
                               else excluded.day_segments end,
           day = excluded.day,
           updated_at = now()`,
    [usage.map((u) => u.account), usage.map((u) => u.attempts), usage.map((u) => u.segments)],
  );
}
