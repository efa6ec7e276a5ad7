// Dispatch: the same backlog of N messages drained by smsq (1 and 4 `smsq worker` processes on
// PostgreSQL, the rate limiter on but never throttling), by pg-boss (own database) and by
// BullMQ (Redis), one after the other against one simulator process, no faults and no status
// callbacks. Throughput is the simulator's first to last create call; CPU is the consumers'
// Node processes from their start-up to the last completion, plus every postgres process (or
// redis-server) over the same window. Every message must reach the simulator exactly once.
import { setTimeout } from "node:timers";
import os from "node:os";
import { join } from "node:path";
import pg from "pg";
import { fileURLToPath, URL } from "node:url";
import { postgresMeter, redisMeter, pidsMeter } from "../lib/cpu.mjs";
import { startNode } from "../lib/procs.mjs";
import { checkLog, SENDER, SIM_TWILIO, startSim } from "../lib/sim.mjs";
import { migrate, putBack, smsqEnv, startServe, startWorkers, submit } from "../lib/smsq.mjs";
import { cpuFigures, messages, round } from "../lib/workload.mjs";

export const id = "dispatch";
export const title = "Dispatch throughput and CPU: smsq vs pg-boss vs BullMQ";

const PEERS = fileURLToPath(new URL("../peers/", import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** What one contender's drain looked like. */
function outcome(name, n, log, bodies, cpu, extra = {}) {
  const c = checkLog(log, bodies);
  const spanS = Math.max(0.001, (c.last - c.first) / 1000);
  return {
    name,
    n,
    perS: c.created / spanS,
    spanS,
    cpuPer1000: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, (v * 1000) / n])),
    check: c,
    ...extra,
  };
}

async function runSmsq(ctx, sim, n, workers) {
  const tag = `smsq${workers}w`;
  const db = await ctx.createDatabase(tag);
  const env = smsqEnv({ dbUrl: db.url, simUrl: sim.url });
  await migrate(env, join(ctx.tmpDir, `dispatch-${tag}-migrate.log`));
  const msgs = messages(n, `${ctx.run}-${tag}`);
  // The backlog goes in through the API first; serve is stopped before the drain so that it
  // takes no CPU from it.
  const serve = await startServe(env, { logFile: join(ctx.tmpDir, `dispatch-${tag}-serve.log`) });
  const t0 = Date.now();
  await submit(serve.url, msgs, { batch: 1000, parallel: 2, keyPrefix: `${ctx.run}-${tag}` });
  const submitPerS = n / ((Date.now() - t0) / 1000);
  await serve.child.stop("SIGTERM");
  await sim.reset();
  const client = new pg.Client({ connectionString: db.url });
  // A database dropped under it (clean-up after an error or SIGINT) must not crash the run.
  client.on("error", () => undefined);
  await client.connect();
  try {
    const pgCpu = postgresMeter(db.url, [db.name]);
    const simCpu = pidsMeter([sim.pid]);
    await pgCpu.start();
    simCpu.start();
    const ws = await startWorkers(workers, env, ctx.tmpDir, `dispatch-${tag}`);
    const deadline = Date.now() + 300_000;
    for (;;) {
      const r = await client.query(
        `select count(*) filter (where status in ('queued', 'sending'))::int as open,
                count(*) filter (where status = 'sent')::int as sent
         from smsq.messages`,
      );
      if (r.rows[0].open === 0) break;
      if (Date.now() > deadline) throw new Error(`smsq ${workers}w: ${r.rows[0].open} not sent`);
      await sleep(100);
    }
    const cpu = { node: ws.cpu(), postgres: await pgCpu.stop(), simulator: simCpu.stop() };
    await ws.stop();
    const sent = (
      await client.query(`select count(*)::int as n from smsq.messages where status = 'sent'`)
    ).rows[0].n;
    const released = await putBack(client);
    const log = await sim.log(0);
    return outcome(
      `smsq ${workers} worker${workers > 1 ? "s" : ""}`,
      n,
      log,
      msgs.map((m) => m.body),
      cpu,
      {
        submitPerS,
        recorded: sent,
        released,
      },
    );
  } finally {
    await client.end().catch(() => undefined);
    await db.drop().catch(() => undefined);
  }
}

async function runPeer(ctx, sim, n, peer) {
  const tag = `${ctx.run}-${peer}`;
  const db = peer === "pgboss" ? await ctx.createDatabase("pgboss") : null;
  // A peer killed before its own clean-up (error, SIGINT) leaves its BullMQ keys behind.
  if (peer === "bullmq") ctx.onCleanup(() => dropBullKeys(ctx.redisUrl, `smsq-bench-${tag}`));
  await sim.reset();
  const child = startNode(
    join(PEERS, `${peer}.mjs`),
    {
      PEER_N: String(n),
      PEER_TAG: tag,
      PEER_DATABASE_URL: db?.url ?? "",
      PEER_REDIS_URL: ctx.redisUrl,
      ...SIM_TWILIO,
      TWILIO_FROM: SENDER,
      TWILIO_BASE_URL: sim.url,
    },
    join(ctx.tmpDir, `dispatch-${peer}.log`),
  );
  try {
    const enq = JSON.parse((await child.waitFor(/^(\{"event":"enqueued".*)$/m, 120_000))[1]);
    await child.waitFor(/^ready$/m);
    const storeCpu = db ? postgresMeter(ctx.adminUrl, [db.name]) : redisMeter();
    const nodeCpu = pidsMeter([child.pid]);
    const simCpu = pidsMeter([sim.pid]);
    await storeCpu.start();
    nodeCpu.start();
    simCpu.start();
    child.send("go");
    const done = JSON.parse((await child.waitFor(/^(\{"event":"done".*)$/m, 300_000))[1]);
    const cpu = {
      node: nodeCpu.stop(),
      [peer === "pgboss" ? "postgres" : "redis"]: await storeCpu.stop(),
      simulator: simCpu.stop(),
    };
    child.send("stop");
    await Promise.race([child.exited, sleep(15_000)]);
    const log = await sim.log(0);
    const name =
      peer === "pgboss" ? "pg-boss (4 × work, batch 1000)" : "BullMQ (1 Worker, concurrency 50)";
    return outcome(
      name,
      n,
      log,
      messages(n, tag).map((m) => m.body),
      cpu,
      {
        submitPerS: n / (enq.ms / 1000),
        recorded: done.counts?.completed ?? done.completed,
        retried: done.retried,
      },
    );
  } finally {
    await child.stop("SIGKILL");
    await db?.drop().catch(() => undefined);
  }
}

async function dropBullKeys(url, queue) {
  const { default: Redis } = await import("ioredis");
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const keys = [];
    let cursor = "0";
    do {
      const [next, found] = await r.scan(cursor, "MATCH", `bull:${queue}:*`, "COUNT", 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== "0");
    for (let i = 0; i < keys.length; i += 500) await r.del(...keys.slice(i, i + 500));
  } finally {
    r.disconnect();
  }
}

export async function run(ctx) {
  const n = ctx.quick ? 3_000 : 20_000;
  // No callbacks in this section: no StatusCallback is sent, and the simulator skips `sent`.
  const sim = await startSim(join(ctx.tmpDir, "sim-dispatch.log"), { sentCallback: false });
  const runs = [];
  const notes = [];
  try {
    for (const step of [
      () => runSmsq(ctx, sim, n, 1),
      () => runSmsq(ctx, sim, n, 4),
      () => runPeer(ctx, sim, n, "bullmq"),
      () => runPeer(ctx, sim, n, "pgboss"),
    ]) {
      const r = await step();
      ctx.log(
        `  ${r.name}: ${round(r.perS)} msg/s, CPU-s/1000 ${JSON.stringify(Object.fromEntries(Object.entries(r.cpuPer1000).map(([k, v]) => [k, round(v)])))}`,
      );
      runs.push(r);
    }
  } finally {
    await sim.stop();
  }

  const figures = [];
  const targets = [];
  for (const r of runs) {
    figures.push({
      name: `${r.name}: delivered msg/s`,
      value: round(r.perS),
      unit: "msg/s",
      detail: `${r.n} messages in ${r.spanS.toFixed(2)} s, first to last provider call; enqueue ${round(r.submitPerS)}/s`,
    });
    figures.push(...cpuFigures(r.name, r, r.n));
    const c = r.check;
    const exact = c.created === r.n && c.twice === 0 && c.missing === 0 && c.stray === 0;
    if (!exact) notes.push(`${r.name}: NOT exactly once at the simulator: ${JSON.stringify(c)}`);
    if (r.recorded !== r.n) notes.push(`${r.name}: ${r.recorded} of ${r.n} outcomes recorded`);
  }
  const smsq = runs.filter((r) => r.name.startsWith("smsq"));
  const best = smsq.reduce((a, b) => (b.perS > a.perS ? b : a));
  const bull = runs.find((r) => r.name.startsWith("BullMQ"));
  const boss = runs.find((r) => r.name.startsWith("pg-boss"));
  const nodeDb = (r) => r.cpuPer1000.node + (r.cpuPer1000.postgres ?? r.cpuPer1000.redis ?? 0);
  for (const [peer, target] of [
    [bull, 1],
    [boss, 1.5],
  ]) {
    const ratio = best.perS / peer.perS;
    figures.push({
      name: `throughput ${best.name} ÷ ${peer.name.split(" ")[0]}`,
      value: round(ratio),
      unit: "×",
    });
    figures.push({
      name: `CPU per message (Node + store) ${best.name} ÷ ${peer.name.split(" ")[0]}`,
      value: round(nodeDb(best) / nodeDb(peer)),
      unit: "×",
      detail: `${round(nodeDb(best))} vs ${round(nodeDb(peer))} CPU-s/1000 (lower is better)`,
    });
    const released = best.released ?? 0;
    targets.push({
      name: `dispatch throughput ≥ ${target}× ${peer.name.split(" ")[0]}`,
      target: `≥ ${target}×`,
      measured: `${round(ratio)}× (${round(best.perS)} vs ${round(peer.perS)} msg/s)`,
      pass: ratio >= target,
      why:
        ratio >= target
          ? undefined
          : `load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores; smsq used ${round(nodeDb(best))} CPU-s/1000 (worker + postgres) against ${round(nodeDb(peer))}` +
            (released > 0 ? `; ${released} claims put back as late for their rate slot` : ""),
    });
  }
  const allExact = runs.every(
    (r) => r.check.created === r.n && r.check.twice === 0 && r.check.missing === 0,
  );
  targets.push({
    name: "dispatch: every message reached the simulator exactly once",
    target: "exactly once",
    measured: allExact ? "yes, all contenders" : "NO (see notes)",
    pass: allExact,
  });
  notes.push(
    `${n} messages per contender, backlog first then drain, one after the other against one simulator process (no faults, no callbacks). smsq: tuned for throughput (SMSQ_CLAIM_BATCH 500, SMSQ_WORKER_CONCURRENCY 2000; the defaults are 50 and 200), TWILIO_MPS 10000 (the largest accepted) so the limiter runs without pacing; attempts, events and statuses recorded in PostgreSQL. Peers: keep-alive node:http Agent (64 sockets), library retries; neither limits rates nor records attempts.`,
    `PostgreSQL CPU is the backends serving the run's database (not the server's shared WAL writer and checkpointer); Redis CPU is the whole redis-server; both over the drain window. On 2 cores the consumers, the database and the simulator compete for the same CPU.`,
  );
  return { figures, targets, notes };
}
