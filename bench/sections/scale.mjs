// Scale: does the dispatcher's claim and GET /v1/stats stay fast as history grows (1M and 10M
// stored messages on PostgreSQL), and does memory stay bounded (one `smsq worker` draining a
// 1M backlog; the embedded store at start-up)? History grows at a constant rate (1M per 24 h),
// so the last hour, which stats reads, holds the same rows at every size: what changes is only
// how much old history lies around it.
import { mkdtempSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { loadConfig } from "../../dist/config/index.js";
import { Limiter } from "../../dist/dispatch/limiter.js";
import { limitPlan } from "../../dist/limits/from-config.js";
import { createLogger } from "../../dist/log.js";
import { claimDue } from "../../dist/store/dispatch.js";
import { migrate } from "../../dist/store/migrate.js";
import { openPostgres } from "../../dist/store/postgres.js";
import { getStats } from "../../dist/store/stats.js";
import { pct, r3, rssMb, sampleRss, startServe } from "../lib/probe.mjs";
import { explainClaim, serverSide } from "../lib/pgprobe.mjs";
import { startSmsq } from "../lib/procs.mjs";
import { SIM_TWILIO, startSim } from "../lib/sim.mjs";
import {
  dbNow,
  seedClient,
  seedHistory,
  seedQueue,
  tableSizes,
  withoutIndexes,
} from "../lib/seed.mjs";

export const id = "scale";
export const title = "Scale: claim and stats latency at 1M/10M messages; worker and embedded RSS";

const FROM = "+14155550000";
const HOUR = 3_600_000;
const PER_HOUR = 1_000_000 / 24; // history density: the last hour always holds ~41,700 messages
const BATCH = 50;
const MPS = 10_000; // the limited claim's rate: high enough that it never throttles a batch
const ACCOUNTS = [{ account: "twilio", provider: "twilio", position: 0, destinations: [] }];
const M = (n) => `${n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`}`;

export async function run(ctx) {
  const t0 = Date.now();
  const out = { figures: [], targets: [], notes: [] };
  const fig = (name, value, unit, detail) =>
    out.figures.push({ name, value: r3(value), unit, detail });
  const quick = ctx.quick;
  const budgetS = quick ? 200 : 360;

  await embedded(ctx, fig);
  await workerRss(ctx, out, fig, quick ? 200_000 : 1_000_000, quick ? 20 : 40);

  // Claim and stats, at two sizes in one database: the second adds older history to the first.
  const [n1, nWanted] = quick ? [100_000, 1_000_000] : [1_000_000, 10_000_000];
  const target = await ctx.createDatabase("scale");
  const clients = [await seedClient(target.url), await seedClient(target.url)];
  const db = await openPostgres(target.url, { max: 4, queryTimeoutMs: 600_000 });
  try {
    await migrate(db);
    const now = await dbNow(clients[0]);
    const queue = { due: 10_000, retrying: 2_000, scheduled: 2_000, sending: 100 };
    const s1 = await seedStage(ctx, clients, { first: 1, count: n1, now, endMs: now - 15 * 60e3 });
    await seedQueue(clients[0], now, { ...queue, tag: "Q" });
    const a1 = await analyze(clients[0]);
    fig(
      `seeding ${M(n1)} messages`,
      s1.insertS + s1.indexS + a1,
      "s",
      `insert ${s1.insertS.toFixed(0)} s, indexes ${s1.indexS.toFixed(0)} s, analyze ${a1.toFixed(0)} s`,
    );
    const m1 = await measure(ctx, db, target.url, clients[0], n1, out, fig);

    // How much history fits in what is left of the budget, at the rates just seen.
    const insertPer = s1.insertS / n1;
    const indexPer = (s1.indexS + a1) / n1;
    const leftS = budgetS - (Date.now() - t0) / 1000 - m1.seconds * 1.5 - 10;
    const fits = Math.floor((leftS + n1 * insertPer) / (insertPer + indexPer) / 500_000) * 500_000;
    const n2 = Math.min(nWanted, fits);
    ctx.log(
      `scale: ${leftS.toFixed(0)} s left; ${M(nWanted)} needs ~${((nWanted - n1) * insertPer + nWanted * indexPer).toFixed(0)} s; going to ${M(n2)}`,
    );
    if (n2 < nWanted) {
      out.notes.push(
        `${M(nWanted)} did not fit the section's ${budgetS} s budget at this run's seeding rate (${(insertPer * 1e6).toFixed(0)} s per 1M inserted + ${(indexPer * 1e6).toFixed(0)} s per 1M to index); measured at ${M(n2)} instead.`,
      );
    }
    if (n2 > n1) {
      const first = nWanted + 1; // row numbers apart from stage 1's (ids carry them)
      const span = (n2 - n1) / PER_HOUR;
      const s2 = await seedStage(ctx, clients, {
        first,
        count: n2 - n1,
        now,
        endMs: now - 24 * HOUR,
        spanH: span,
      });
      const a2 = await analyze(clients[0]);
      fig(
        `seeding ${M(n2 - n1)} more (to ${M(n2)})`,
        s2.insertS + s2.indexS + a2,
        "s",
        `insert ${s2.insertS.toFixed(0)} s, indexes (all ${M(n2)}) ${s2.indexS.toFixed(0)} s, analyze ${a2.toFixed(0)} s`,
      );
      const m2 = await measure(ctx, db, target.url, clients[0], n2, out, fig);
      for (const kind of ["plain", "limited"]) {
        const p99 = m2.claims[kind].p99;
        out.targets.push({
          name: `claim p99 (${kind}) at ${M(n2)} messages`,
          target: "< 5 ms at 10M",
          measured: `${r3(p99)} ms`,
          // A miss with less history than 10M is a miss at 10M too (the claim does not get
          // cheaper with more rows); a pass below 10M proves nothing, so it stays open.
          pass: n2 === 10_000_000 || p99 >= 5 ? p99 < 5 : null,
          why:
            p99 >= 5 || n2 === 10_000_000
              ? `${n2 < 10_000_000 ? `at ${M(n2)} (10M did not fit the time budget): ` : ""}${m2.why[kind]}`
              : `only ${M(n2)} fitted the time budget`,
        });
      }
    }
  } finally {
    await db.close();
    for (const c of clients) await c.end().catch(() => undefined);
    await target.drop();
  }
  out.notes.push(
    `History: final statuses (87 % delivered first time, 4 % after a retry, 3 % undelivered, 3 % failed, 1.5 % sent, 1.5 % expired/canceled/suppressed) with ~1.05 attempt rows per message, created at ${Math.round(PER_HOUR).toLocaleString("en")} per hour; the larger size adds older history. Queue: 10,000 queued and due (lanes mixed), 2,000 waiting for a retry, 2,000 scheduled, 100 sending. Seeded by INSERT … SELECT generate_series (two sessions, synchronous_commit off, indexes dropped and rebuilt from their own definitions), then ANALYZE; this server runs with autovacuum off, so no VACUUM ran.`,
    `Claims: batch ${BATCH}, 200 timed after 10 warm-up, measured in this process around the call (round trips included). Each claimed batch stays 'sending' and 50 new due messages are inserted (untimed) before the next claim, so the backlog stays at 10,000 due as on a live system. "limited" is the dispatcher's Limiter.claim (claimLimited: bucket lock, candidates, schedule, take, in one transaction) with TWILIO_MPS=${MPS}; claims are spaced so the bucket never throttles.`,
  );
  return out;
}

/** Seeds `count` history messages ending at `endMs` (spanning count / PER_HOUR hours). */
async function seedStage(ctx, clients, { first, count, endMs, spanH }) {
  const from = endMs - (spanH ?? count / PER_HOUR) * HOUR;
  let insertS = 0;
  const t = performance.now();
  const indexS = await withoutIndexes(clients, async () => {
    await seedHistory(clients, { first, count, fromMs: from, toMs: endMs });
    insertS = (performance.now() - t) / 1000;
  });
  ctx.log(
    `scale: seeded ${M(count)} (insert ${insertS.toFixed(0)} s, indexes ${indexS.toFixed(0)} s)`,
  );
  return { insertS, indexS };
}

async function analyze(c) {
  const t = performance.now();
  await c.query("analyze"); // every table: the claim also reads suppressions and rate_limits
  return (performance.now() - t) / 1000;
}

/** The two claims a dispatcher makes: plain claimDue, and its Limiter's (a high rate). */
function makeClaimers(db) {
  const config = loadConfig({ ...SIM_TWILIO, TWILIO_FROM: FROM, TWILIO_MPS: String(MPS) });
  const limiter = new Limiter(
    db,
    { plan: limitPlan(config), headroom: 0.02 },
    createLogger("silent"),
  );
  const o = { workerId: "bench", limit: BATCH, leaseMs: 120_000, accounts: ACCOUNTS };
  return { plain: () => claimDue(db, o), limited: () => limiter.claim(o) };
}

/** Claim latency (plain and limited) and getStats latency at the current size. */
async function measure(ctx, db, url, c, n, out, fig) {
  const t = performance.now();
  const sizes = await tableSizes(c);
  ctx.log(
    `scale: ${sizes.messages} messages (${(sizes.mbytes / 2 ** 30).toFixed(1)} GiB with indexes), ${sizes.attempts} attempts (${(sizes.abytes / 2 ** 30).toFixed(1)} GiB); due index ${(sizes.duebytes / 1024).toFixed(0)} kB`,
  );

  const stats = [];
  for (let i = 0; i < 22; i++) {
    const s = performance.now();
    await getStats(db, { windowMinutes: 60 });
    if (i >= 2) stats.push(performance.now() - s);
  }
  fig(`stats (whole getStats) p50, ${M(n)}`, pct(stats, 50), "ms");
  fig(
    `stats (whole getStats) p99, ${M(n)}`,
    pct(stats, 99),
    "ms",
    "20 runs, last hour (~41,700 messages and their attempts)",
  );

  let next = 1;
  const refill = async () => {
    // New due messages at the back of the queue, like submissions arriving meanwhile.
    next = await seedQueue(c, Date.now() - 2000, { due: BATCH, tag: "R", first: next }, 1000);
  };
  const claimers = makeClaimers(db);
  const claims = {};
  const why = {};
  for (const [kind, claim] of Object.entries(claimers)) {
    const times = [];
    let short = 0;
    for (let i = 0; i < 210; i++) {
      const s = performance.now();
      const got = await claim();
      const ms = performance.now() - s;
      if (i >= 10) times.push(ms);
      if (got.length < BATCH) short += 1;
      await refill();
      // The limited claim's bucket moves 50 / MPS s per batch: never let it run ahead of now.
      const gap = (BATCH / (MPS * 0.98)) * 1000 * 1.1 - (performance.now() - s);
      if (kind === "limited" && gap > 0) await sleep(gap);
    }
    claims[kind] = { p50: pct(times, 50), p99: pct(times, 99), max: Math.max(...times) };
    fig(`claim p50 (${kind}), ${M(n)}`, claims[kind].p50, "ms");
    fig(
      `claim p99 (${kind}), ${M(n)}`,
      claims[kind].p99,
      "ms",
      `max ${r3(claims[kind].max)} ms${short ? `; ${short} claims came back short of ${BATCH}` : ""}`,
    );
    if (short) {
      out.notes.push(
        `${M(n)}: ${short} of 210 ${kind} claims returned fewer than ${BATCH} messages.`,
      );
    }
  }
  // Where the time goes: the server's own execution time of each claim statement (auto_explain
  // on a session of its own, timing off so it costs little), and a durable one-row commit alone.
  const server = await serverSide(url, makeClaimers, refill);
  const plan = await explainClaim(c, BATCH);
  ctx.log(
    `scale: ${M(n)}: due selection ${plan.scan}; slowest claim statement:\n${server.slowest}`,
  );
  fig(
    `claim server execution p50/p99 (plain), ${M(n)}`,
    server.plain.p50,
    "ms",
    `p99 ${r3(server.plain.p99)} ms; the rest is round trip and commit`,
  );
  fig(
    `claim server execution p50/p99 (limited), ${M(n)}`,
    server.limited.p50,
    "ms",
    `p99 ${r3(server.limited.p99)} ms, all statements of the transaction`,
  );
  fig(
    `durable one-row commit p50/p99, ${M(n)}`,
    server.commit.p50,
    "ms",
    `p99 ${r3(server.commit.p99)} ms: the floor of any write here (WAL flush)`,
  );
  for (const kind of Object.keys(claims)) {
    why[kind] =
      `host load average ${loadavg()[0].toFixed(1)} on 2 cores; server executes the ${kind} claim in ${r3(server[kind].p50)} ms median / ${r3(server[kind].p99)} ms p99 (due rows via ${plan.scan}); a durable one-row commit alone takes ${r3(server.commit.p50)} ms median / ${r3(server.commit.p99)} ms p99 on this host`;
    if (claims[kind].p99 >= 5) {
      out.notes.push(`${M(n)}, ${kind} claim p99 ${r3(claims[kind].p99)} ms: ${why[kind]}.`);
    }
  }
  return { seconds: (performance.now() - t) / 1000, claims, why };
}

/** One `smsq worker` draining a backlog of `n` due messages against the simulator, `seconds` long. */
async function workerRss(ctx, out, fig, n, seconds) {
  const target = await ctx.createDatabase("scalew");
  const clients = [await seedClient(target.url), await seedClient(target.url)];
  let sim = null;
  let worker = null;
  try {
    const db = await openPostgres(target.url, { max: 1 });
    await migrate(db);
    await db.close();
    const t = performance.now();
    const now = await dbNow(clients[0]);
    await withoutIndexes(clients, () =>
      Promise.all([
        seedQueue(clients[0], now, { due: n / 2, tag: "A" }),
        seedQueue(clients[1], now, { due: n / 2, tag: "B" }),
      ]),
    );
    await analyze(clients[0]);
    ctx.log(`scale: ${M(n)} backlog seeded in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    sim = await startSim(join(ctx.tmpDir, "scale-sim.log"), {});
    const env = {
      SMSQ_DATABASE_URL: target.url,
      ...SIM_TWILIO,
      TWILIO_FROM: FROM,
      TWILIO_BASE_URL: sim.url,
      TWILIO_MPS: String(MPS),
    };
    worker = startSmsq(["worker"], env, join(ctx.tmpDir, "scale-worker.log"));
    const rss = sampleRss(worker.pid, 500);
    await worker.waitFor(/worker started/, 60_000);
    const started = rssMb(worker.pid);
    const startedAt = rss.samples.at(-1)?.t ?? 0;
    await sleep(seconds * 1000);
    const samples = await rss.stop();
    const sent = await clients[0].query(
      "select count(*)::int as n from smsq.messages where status <> 'queued'",
    );
    const lastT = samples.at(-1).t;
    const mid = samples.find((s) => s.t >= startedAt + (lastT - startedAt) / 2)?.mb;
    const peak = Math.max(...samples.map((s) => s.mb));
    const end = samples.at(-1).mb;
    const growth = end - mid;
    const rate = sent.rows[0].n / seconds;
    fig(`worker RSS at start (${M(n)} backlog)`, started, "MB");
    const series = samples
      .filter((s, i) => i % 10 === 0)
      .map((s) => Math.round(s.mb))
      .join(" ");
    fig("worker RSS peak", peak, "MB", `every 5 s from spawn: ${series} MB`);
    fig(
      "worker RSS at end",
      end,
      "MB",
      `${growth >= 0 ? "+" : ""}${growth.toFixed(1)} MB over the second half`,
    );
    fig(
      "worker drain rate while sampled",
      rate,
      "msg/s",
      `${sent.rows[0].n} messages claimed of ${M(n)}`,
    );
    const flat = growth < Math.max(10, mid * 0.1);
    out.targets.push({
      name: `one smsq worker's RSS draining a ${M(n)} backlog`,
      target: "< 200 MB and flat",
      measured: `peak ${r3(peak)} MB, ${growth >= 0 ? "+" : ""}${growth.toFixed(1)} MB over the second half`,
      pass: n >= 1_000_000 ? peak < 200 && flat : null,
      why:
        n < 1_000_000
          ? "quick run: backlog below 1M"
          : !flat
            ? "still growing in the second half"
            : undefined,
    });
    out.notes.push(
      `Worker RSS: one \`smsq worker\` (defaults: batch 50, 200 in flight; TWILIO_MPS=${MPS}, no callbacks) against \`smsq simulate\` in its own process; RSS read from /proc every 0.5 s from spawn; "flat" = less than max(10 MB, 10 %) growth over the second half.`,
    );
  } finally {
    await worker?.stop("SIGTERM");
    await sim?.stop();
    for (const c of clients) await c.end().catch(() => undefined);
    await target.drop();
  }
}

/** `smsq serve` on the embedded store: a fresh data directory, then the same one reopened. */
async function embedded(ctx, fig) {
  const dir = mkdtempSync(join(ctx.tmpDir, "scale-pglite-"));
  for (const phase of ["fresh", "reopened"]) {
    const serve = await startServe(
      [],
      { SMSQ_DATA_DIR: dir },
      join(ctx.tmpDir, `scale-serve-${phase}.log`),
    );
    const rss = sampleRss(serve.pid, 250);
    await sleep(3000);
    const samples = await rss.stop();
    await serve.stop("SIGTERM");
    fig(
      `embedded serve RSS after start (${phase} data dir)`,
      samples[0]?.mb,
      "MB",
      `start-up ${(serve.startMs / 1000).toFixed(1)} s; peak ${r3(Math.max(...samples.map((s) => s.mb)))} MB over the next 3 s, idle, sandbox provider, worker on (the default)`,
    );
  }
}
