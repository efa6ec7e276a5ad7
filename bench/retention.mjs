// What /metrics' store read and a retention run cost on a large history, on a real PostgreSQL.
// It needs a seeded database: keep the one bench/stats.mjs makes (100 days of history, so that
// bodies are past 30 days and some attempts past 90), then point this at it. Run after
// `npm run build`:
//
//   SMSQ_BENCH_HOURS=2400 SMSQ_BENCH_KEEP=1 node bench/stats.mjs   # prints "kept postgres://…"
//   SMSQ_BENCH_DATABASE_URL=postgres://…/smsq_bench_… node bench/retention.mjs
//
// It changes that database (the retention run redacts and deletes); drop it afterwards.
// Knobs: SMSQ_BENCH_RUNS (20 metrics reads), SMSQ_BENCH_RETENTION_MS (20000: how long the
// retention run may go on), SMSQ_BENCH_BATCH (1000).
import { performance } from "node:perf_hooks";
import { Metrics } from "../dist/metrics/metrics.js";
import { openPostgres } from "../dist/store/postgres.js";
import { DEFAULT_RETENTION, planCleanup, runCleanup } from "../dist/store/retention.js";

const env = process.env;
const URL_ = env.SMSQ_BENCH_DATABASE_URL;
if (!URL_) throw new Error("set SMSQ_BENCH_DATABASE_URL to a database seeded by bench/stats.mjs");
const RUNS = Number(env.SMSQ_BENCH_RUNS ?? 20);
const RETENTION_MS = Number(env.SMSQ_BENCH_RETENTION_MS ?? 20_000);
const BATCH = Number(env.SMSQ_BENCH_BATCH ?? 1000);

const log = (s) => console.log(s);
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const f = (x) => `${x.toFixed(1)} ms`;

const db = await openPostgres(URL_, { max: 4 });
try {
  const sizes = await db.query(
    `select (select count(*) from smsq.messages)::int as messages,
            (select count(*) from smsq.attempts)::int as attempts`,
  );
  log(
    `history: ${sizes[0].messages.toLocaleString("en")} messages, ${sizes[0].attempts.toLocaleString("en")} attempts`,
  );

  // /metrics: the five statements, no cache; the page rendered from them.
  const m = new Metrics(db, { cacheMs: 0, defaultMetrics: false });
  await m.render();
  await m.render();
  const reads = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await m.render();
    reads.push(performance.now() - t);
  }
  log(
    `/metrics render with a store read: p50 ${f(pct(reads, 50))}, p99 ${f(pct(reads, 99))} (${RUNS} runs)`,
  );

  // The dry run's counts (it reads every row it counts).
  let t = performance.now();
  const plan = await planCleanup(db, DEFAULT_RETENTION);
  log(
    `dry run: ${plan.bodies.toLocaleString("en")} bodies, ${plan.attempts.toLocaleString("en")} attempts, ${plan.events.toLocaleString("en")} events in ${f(performance.now() - t)}`,
  );

  // The run: each statement timed.
  const batches = { bodies: [], attempts: [], events: [], messages: [] };
  let last = performance.now();
  t = last;
  const r = await runCleanup(db, DEFAULT_RETENTION, {
    batchSize: BATCH,
    maxMs: RETENTION_MS,
    onBatch: (step, n) => {
      const now = performance.now();
      if (n > 0) batches[step].push(now - last);
      last = now;
    },
  });
  const total = performance.now() - t;
  log(
    `run (${BATCH} rows a statement, ${RETENTION_MS / 1000} s at most): ${r.bodies.toLocaleString("en")} bodies, ${r.attempts.toLocaleString("en")} attempts in ${f(total)}, complete: ${r.complete}`,
  );
  for (const [step, xs] of Object.entries(batches)) {
    if (xs.length === 0) continue;
    log(
      `  ${step}: ${xs.length} statements, p50 ${f(pct(xs, 50))}, p99 ${f(pct(xs, 99))}, max ${f(Math.max(...xs))}`,
    );
  }
  const explain = await db.query(
    `explain (analyze, buffers)
     select id from smsq.messages
     where body_redacted_at is null
       and status in ('sent', 'delivered', 'undelivered', 'failed', 'expired', 'canceled', 'suppressed')
       and coalesce(completed_at, sent_at, created_at) < now() - interval '30 days'
     order by coalesce(completed_at, sent_at, created_at) limit ${BATCH}`,
  );
  log("EXPLAIN (ANALYZE, BUFFERS) of the redaction's batch select, after the run:");
  for (const row of explain) log(`  ${row["QUERY PLAN"]}`);
} finally {
  await db.close();
}
