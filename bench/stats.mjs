// Benchmark of GET /v1/stats's queries at scale, on a real PostgreSQL: seeds a fresh database
// with 1,000,000 messages (+ their attempts) in a few big statements, runs ANALYZE, then times
// each stats statement and the whole getStats() and prints EXPLAIN (ANALYZE, BUFFERS) of the
// slowest statement. Run after `npm run build`:
//
//   SMSQ_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/postgres node bench/stats.mjs
//
// Knobs (environment): SMSQ_BENCH_MESSAGES (1000000), SMSQ_BENCH_HOURS (24: the history is
// spread evenly over this many hours, so the last hour holds MESSAGES / HOURS of them),
// SMSQ_BENCH_QUEUED (10000 waiting, 20 % of them for a retry), SMSQ_BENCH_RUNS (20),
// SMSQ_BENCH_KEEP=1 keeps the database.
import { randomBytes } from "node:crypto";
import { URL } from "node:url";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { newMessageId } from "../dist/messages/ids.js";
import { migrate } from "../dist/store/migrate.js";
import { openPostgres } from "../dist/store/postgres.js";
import { getStats, statsQueries, statsWindow } from "../dist/store/stats.js";

const env = process.env;
const ADMIN_URL =
  env.SMSQ_BENCH_DATABASE_URL ||
  env.SMSQ_TEST_DATABASE_URL ||
  "postgres://postgres@127.0.0.1:5432/postgres";
const N = Number(env.SMSQ_BENCH_MESSAGES ?? 1_000_000);
const HOURS = Number(env.SMSQ_BENCH_HOURS ?? 24);
const QUEUED = Number(env.SMSQ_BENCH_QUEUED ?? 10_000);
const SCHEDULED = 2_000;
const SENDING = 100;
const RUNS = Number(env.SMSQ_BENCH_RUNS ?? 20);
const CHUNK = 100_000;

const log = (s) => console.log(s);
const ms = (t) => `${t.toFixed(1)} ms`;

// A fixed mix of final statuses, drawn from the message's index (deterministic).
// [status, share in 10,000, attempts, error code, error class]
const MIX = [
  ["delivered", 8700, 1, null, null],
  ["delivered", 400, 2, "20500", "transient"], // delivered after a retry
  ["undelivered", 300, 1, "30003", "transient"],
  ["failed", 200, 1, "21211", "recipient_permanent"],
  ["failed", 100, 3, "20500", "transient"], // attempts used up
  ["sent", 150, 1, null, null], // no receipt yet
  ["expired", 50, 0, "expired", null],
  ["canceled", 50, 0, null, null],
  ["suppressed", 50, 0, null, null],
];
const pick = (i) => {
  let r = (i * 2654435761) % 10_000;
  for (const m of MIX) {
    if (r < m[1]) return m;
    r -= m[1];
  }
  return MIX[0];
};

async function createDatabase() {
  const name = `smsq_bench_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const u = new URL(ADMIN_URL);
  u.pathname = `/${name}`;
  return {
    name,
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

// History: N - QUEUED - SCHEDULED - SENDING messages created evenly over HOURS, in final (or
// `sent`) statuses; then the queue: created in the last ten minutes.
async function seedMessages(db, now) {
  const history = N - QUEUED - SCHEDULED - SENDING;
  const start = now - HOURS * 3600_000;
  const step = (HOURS * 3600_000 - 15 * 60_000) / history;
  const insert = `
    insert into smsq.messages (id, api_key_id, to_number, body, segments, encoding, priority,
      lane, status, run_at, attempts, last_error_code, last_error_class, provider, account,
      created_at, updated_at, sent_at, completed_at)
    select id, 'key_bench', '+1415' || lpad((2000000 + g % 7000000)::text, 7, '0'),
           'Your appointment is tomorrow at 9:00', 1, 'GSM-7',
           (array['high', 'normal', 'low'])[lane + 1], lane, status,
           created + attempts * interval '30 seconds', attempts, code, cls,
           case when attempts > 0 then 'twilio' end,
           case when attempts > 0 then (array['primary', 'backup'])[1 + g % 2] end,
           created, created,
           case when status in ('delivered', 'undelivered', 'sent')
                then created + attempts * interval '30 seconds' end,
           case when status in ('delivered', 'undelivered')
                  then created + attempts * interval '30 seconds' + interval '5 seconds'
                when status in ('failed', 'expired', 'canceled', 'suppressed')
                  then created + greatest(attempts, 1) * interval '30 seconds' end
    from unnest($1::text[], $2::timestamptz[], $3::text[], $4::int[], $5::text[], $6::text[],
                $7::smallint[], $8::int[])
      as t(id, created, status, attempts, code, cls, lane, g)`;
  for (let off = 0; off < history; off += CHUNK) {
    const n = Math.min(CHUNK, history - off);
    const cols = [[], [], [], [], [], [], [], []];
    for (let k = 0; k < n; k++) {
      const i = off + k;
      const created = Math.floor(start + i * step);
      const [status, , attempts, code, cls] = pick(i);
      cols[0].push(newMessageId(created));
      cols[1].push(new Date(created).toISOString());
      cols[2].push(status);
      cols[3].push(attempts);
      cols[4].push(code);
      cols[5].push(cls);
      cols[6].push(i % 10 === 0 ? 0 : i % 10 < 8 ? 1 : 2);
      cols[7].push(i);
    }
    await db.query(insert, cols);
  }
  // The queue: due (waiting up to ten minutes), waiting for a retry, scheduled, in flight.
  await db.query(
    `insert into smsq.messages (id, api_key_id, to_number, body, segments, encoding, priority,
       lane, status, run_at, attempts, last_error_code, last_error_class, created_at,
       updated_at, lease_owner, lease_expires_at)
     select id, 'key_bench', '+14155550100', 'queued', 1, 'GSM-7',
            (array['high', 'normal', 'low'])[lane + 1], lane, status, run_at, attempts,
            case when attempts > 0 then '20500' end, case when attempts > 0 then 'transient' end,
            created, created,
            case when status = 'sending' then 'bench' end,
            case when status = 'sending' then $5::timestamptz + interval '30 seconds' end
     from unnest($1::text[], $2::timestamptz[], $3::text[], $4::timestamptz[])
       with ordinality as t(id, created, status, run_at, g),
       lateral (select (g % 3)::smallint as lane,
                       case when status = 'queued' and run_at > $5::timestamptz then 1
                            when status = 'sending' then 1 else 0 end as attempts) x`,
    (() => {
      const ids = [];
      const created = [];
      const status = [];
      const runAt = [];
      const add = (s, c, r) => {
        ids.push(newMessageId(c));
        created.push(new Date(c).toISOString());
        status.push(s);
        runAt.push(new Date(r).toISOString());
      };
      for (let i = 0; i < QUEUED; i++) {
        const c = now - 600_000 + Math.floor((i * 600_000) / QUEUED);
        add("queued", c, i % 5 === 0 ? now + 60_000 : c); // one in five waits for a retry
      }
      for (let i = 0; i < SCHEDULED; i++) add("scheduled", now - 60_000, now + (i + 1) * 60_000);
      for (let i = 0; i < SENDING; i++) add("sending", now - 1000, now - 1000);
      return [ids, created, status, runAt, new Date(now).toISOString()];
    })(),
  );
}

// One row per provider call: earlier calls failed (the message's error, or a transient one),
// the last one accepted when the message got to the provider.
async function seedAttempts(db) {
  await db.query(
    `insert into smsq.attempts (message_id, attempt, provider, account, worker_id, outcome,
       provider_message_id, error_code, error_message, error_class, started_at, finished_at,
       latency_ms)
     select m.id, n, 'twilio', coalesce(m.account, 'primary'), 'bench',
            case when n < m.attempts or m.status in ('failed', 'queued', 'sending')
                 then 'failed' else 'accepted' end,
            case when n = m.attempts and m.status in ('delivered', 'undelivered', 'sent')
                 then 'SM' || md5(m.id) end,
            case when n < m.attempts then '20500'
                 when m.status in ('failed', 'queued', 'sending') then m.last_error_code end,
            null,
            case when n < m.attempts then 'transient'
                 when m.status in ('failed', 'queued', 'sending') then m.last_error_class end,
            m.created_at + (n - 1) * interval '30 seconds',
            m.created_at + (n - 1) * interval '30 seconds' + interval '180 milliseconds',
            180
     from smsq.messages m, generate_series(1, m.attempts) n
     where m.attempts > 0 and m.status <> 'sending' -- its call has no record yet
     order by m.created_at, n`,
  );
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function main() {
  const t0 = performance.now();
  const target = await createDatabase();
  log(`database ${target.name}; ${N.toLocaleString("en")} messages over ${HOURS} h`);
  const db = await openPostgres(target.url, { max: 8, queryTimeoutMs: 600_000 });
  try {
    await migrate(db);
    const now = (await db.query("select now() as now"))[0].now.getTime();
    await seedMessages(db, now);
    await seedAttempts(db);
    await db.exec("analyze");
    const counts = (
      await db.query(
        `select (select count(*) from smsq.messages) as messages,
                (select count(*) from smsq.attempts) as attempts,
                pg_size_pretty(pg_total_relation_size('smsq.messages')) as msize,
                pg_size_pretty(pg_total_relation_size('smsq.attempts')) as asize`,
      )
    )[0];
    log(
      `seeded in ${((performance.now() - t0) / 1000).toFixed(0)} s: ${counts.messages} messages ` +
        `(${counts.msize} with indexes), ${counts.attempts} attempts (${counts.asize}); ANALYZE done`,
    );

    const at = new Date((await db.query("select now() as now"))[0].now);
    const w = statsWindow(60, at);
    const queries = statsQueries(w.since, w.until, w.bucketSeconds);
    const inWindow = (
      await db.query(
        `select (select count(*) from smsq.attempts where finished_at >= $1) as a,
                (select count(*) from smsq.messages where completed_at >= $1) as m`,
        [w.since.toISOString()],
      )
    )[0];
    log(
      `last hour: ${inWindow.a} attempts, ${inWindow.m} messages completed; queue ${QUEUED} + ${SCHEDULED} scheduled + ${SENDING} sending`,
    );
    log("");
    log(`statement        p50        p99   (${RUNS} runs each, after 2 warm-up runs)`);
    const results = [];
    for (const [name, q] of Object.entries(queries)) {
      const times = [];
      for (let i = 0; i < RUNS + 2; i++) {
        const s = performance.now();
        await db.query(q.sql, q.params);
        if (i >= 2) times.push(performance.now() - s);
      }
      results.push({ name, q, p50: pct(times, 50), p99: pct(times, 99) });
      log(
        `${name.padEnd(12)} ${ms(pct(times, 50)).padStart(10)} ${ms(pct(times, 99)).padStart(10)}`,
      );
    }
    const whole = [];
    for (let i = 0; i < RUNS + 2; i++) {
      const s = performance.now();
      await getStats(db, { windowMinutes: 60 });
      if (i >= 2) whole.push(performance.now() - s);
    }
    log(
      `${"getStats()".padEnd(12)} ${ms(pct(whole, 50)).padStart(10)} ${ms(pct(whole, 99)).padStart(10)}   (all four side by side on the pool, plus select now())`,
    );

    const slowest = results.reduce((a, b) => (b.p50 > a.p50 ? b : a));
    log("");
    log(`EXPLAIN (ANALYZE, BUFFERS) of the slowest, ${slowest.name}:`);
    const plan = await db.query(`explain (analyze, buffers) ${slowest.q.sql}`, slowest.q.params);
    for (const r of plan) log(`  ${r["QUERY PLAN"]}`);
  } finally {
    await db.close();
    if (env.SMSQ_BENCH_KEEP === "1") log(`kept ${target.url}`);
    else await target.drop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
