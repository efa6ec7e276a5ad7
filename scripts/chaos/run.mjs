// `npm run chaos`: several `smsq worker` processes and one `smsq serve --no-worker` (the API and
// the provider webhooks) against one PostgreSQL and the provider simulator (`smsq simulate`, a
// process of its own) with faults on: 5xx, timeouts, dropped connections and 429s at create,
// duplicate and out-of-order status callbacks. Messages are submitted in batches through the
// API throughout; a killer SIGKILLs a random worker every few seconds and starts a new one.
// Then the run drains (every message terminal or legitimately waiting, every callback
// delivered) and scripts/chaos/check.mjs compares smsq's store with the simulator's log.
// Prints the figures and exits 1 on any violation (2 if the run itself could not be carried out).
//
//   npm run chaos                                  # 20,000 messages, 20 kills (the long run)
//   node scripts/chaos/run.mjs --messages 1500 --kills 4     # after npm run build
//   node scripts/chaos/run.mjs --help              # every option, as flag and variable
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, URL } from "node:url";
import pg from "pg";
import { check, faultFigures } from "./check.mjs";
import { messagePlanner } from "./mix.mjs";
import {
  freePort,
  optionsHelp,
  prng,
  readOptions,
  SIM_SID,
  SIM_TOKEN,
  simulatorArgs,
  simulatorUrl,
  spawnSmsq,
  startCallbackProxy,
} from "./lib.mjs";

const SPEC = {
  messages: 20_000,
  kills: 20,
  workers: 3,
  /** Mean time between kills; each wait is drawn from 0.5× to 1.5× of it. */
  killEveryMs: 3000,
  /** Messages per POST /v1/messages/batch. */
  batch: 250,
  /** How long submission is spread over (0: over the kills, i.e. kills × killEveryMs × 0.8). */
  submitMs: 0,
  /** Total fault rate at create, split evenly between 5xx, timeout, drop and 429. */
  faultRate: 0.08,
  duplicateCallbackRate: 0.1,
  outOfOrderRate: 0.1,
  latencyMs: 20,
  /** Short, so that a killed worker's messages come back within seconds. */
  leaseMs: 8000,
  /**
   * The provider call's timeout. Calls to the simulator take 20 ms when the host is idle and
   * seconds when other work shares its two cores; each timeout opens the way to the circuit
   * breaker (50 % failures of the last 50 calls), whose probes then pace the run.
   */
  sendTimeoutMs: 4000,
  concurrency: 100,
  claimBatch: 50,
  /**
   * SMSQ_RATE_HEADROOM for the workers; empty: smsq's default. Before 91123f7 the limiter put
   * back every message that left more than headroom × 500 ms (10 ms) after its rate slot, and
   * on a busy host that was all of them, over and over (docs/scaling.md, "Known limits"); 0.5
   * (250 ms) kept runs of older versions going.
   */
  headroom: "",
  /**
   * SMSQ_ADAPTIVE_RATE. Off by default here: the injected 429s are random, not a rate, and
   * the adaptive rate takes every one as "slow down" (x0.7), so 2 % of calls refused drive the
   * working rate to its floor (1 % of the ceiling: 50/s, six minutes into a long run at c8936d9).
   */
  adaptive: false,
  drainTimeoutMs: 900_000,
  databaseUrl: process.env.SMSQ_TEST_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres",
  seed: 0,
  /** Keep the database and the logs (under .tmp/chaos/<run>) after a clean run. */
  keep: false,
  logDir: "",
  /** Extra environment for smsq serve and the workers, as JSON (e.g. '{"SMSQ_MAX_ATTEMPTS":"3"}'). */
  smsqEnv: "",
};

const { fetch } = globalThis;
const SENDER = "+14155550000";

const opts = readOptions(SPEC);
if (opts.help) {
  console.log(`usage: node scripts/chaos/run.mjs [options]\n\n${optionsHelp(SPEC, opts)}`);
  process.exit(0);
}
const seed = opts.seed || Math.floor(Math.random() * 2 ** 31);
const rand = prng(seed);
const run = randomBytes(4).toString("hex");
const root = fileURLToPath(new URL("../..", import.meta.url));
const logDir = opts.logDir || join(root, ".tmp", "chaos", run);
mkdirSync(logDir, { recursive: true });

const t0 = Date.now();
const planMessage = messagePlanner(run, rand);
const say = (s) => console.log(`[chaos ${((Date.now() - t0) / 1000).toFixed(1)}s] ${s}`);

// ---------------------------------------------------------------------------------------------

const children = new Set();
let db = null;
let dbName = null;
let proxy = null;

async function adminQuery(sql) {
  const c = new pg.Client({ connectionString: opts.databaseUrl });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

async function cleanup() {
  for (const c of children) await c.stop("SIGKILL");
  await proxy?.close();
  await db?.end().catch(() => undefined);
  if (dbName && !opts.keep) {
    await adminQuery(`drop database if exists ${dbName} with (force)`).catch(() => undefined);
  }
}

async function main() {
  say(
    `run ${run}, seed ${seed}: ${opts.messages} messages, ${opts.kills} kills, ${opts.workers} workers; logs in ${logDir}`,
  );
  dbName = `smsq_chaos_${run}`;
  await adminQuery(`create database ${dbName}`);
  const u = new URL(opts.databaseUrl);
  u.pathname = `/${dbName}`;
  const dbUrl = u.toString();

  // The simulator: a process of its own, faults on.
  const f = opts.faultRate / 4;
  const behaviour = {
    rate5xx: f,
    rateTimeout: f,
    rateDrop: f,
    rate429: f,
    duplicateCallbackRate: opts.duplicateCallbackRate,
    outOfOrderRate: opts.outOfOrderRate,
    sentCallback: true,
    latencyMs: opts.latencyMs,
    callbackDelayMs: 50,
    // smsq serve answers every callback; retries cover the rare stall.
    callbackRetries: 5,
    rules: [
      { toPattern: "13$", at: "create", code: 21211 },
      { toPattern: "77$", at: "delivery", code: 30003 },
    ],
  };
  const sim = spawnSmsq(
    simulatorArgs(behaviour, ["--log-file", join(logDir, "sim.jsonl")]),
    {},
    join(logDir, "sim.log"),
  );
  children.add(sim);
  const simUrl = await simulatorUrl(sim);

  // smsq serve --no-worker behind the callback proxy (the public URL callbacks are sent to).
  const port = await freePort();
  proxy = await startCallbackProxy(`http://127.0.0.1:${port}`);
  const env = {
    SMSQ_DATABASE_URL: dbUrl,
    SMSQ_PROVIDER: "twilio",
    TWILIO_ACCOUNT_SID: SIM_SID,
    TWILIO_AUTH_TOKEN: SIM_TOKEN,
    TWILIO_FROM: SENDER,
    TWILIO_BASE_URL: simUrl,
    // The simulator has no sender limit here: keep smsq's own limiter out of the way.
    TWILIO_MPS: "5000",
    SMSQ_PUBLIC_URL: proxy.url,
    SMSQ_LEASE_MS: String(opts.leaseMs),
    SMSQ_SEND_TIMEOUT_MS: String(opts.sendTimeoutMs),
    SMSQ_WORKER_CONCURRENCY: String(opts.concurrency),
    SMSQ_CLAIM_BATCH: String(opts.claimBatch),
    SMSQ_POLL_INTERVAL_MS: "50",
    ...(opts.headroom === "" ? {} : { SMSQ_RATE_HEADROOM: opts.headroom }),
    SMSQ_ADAPTIVE_RATE: String(opts.adaptive),
    ...(opts.smsqEnv ? JSON.parse(opts.smsqEnv) : {}),
  };
  const migrate = spawnSmsq(["migrate"], env, join(logDir, "migrate.log"));
  const migrated = await migrate.exited;
  if (migrated.code !== 0) throw new Error(`smsq migrate failed:\n${migrate.output()}`);
  const serve = spawnSmsq(
    ["serve", "--no-worker"],
    { ...env, SMSQ_PORT: String(port) },
    join(logDir, "serve.log"),
  );
  children.add(serve);
  const api = (await serve.waitFor(/listening on (http:\/\/\S+?)\s/))[1];

  // The workers, each in a slot the killer picks from.
  let generation = 0;
  const startWorker = async () => {
    generation += 1;
    const w = spawnSmsq(["worker"], env, join(logDir, `worker-${generation}.log`));
    children.add(w);
    await w.waitFor(/worker started/);
    return w;
  };
  const slots = await Promise.all(Array.from({ length: opts.workers }, startWorker));
  db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  say(`simulator ${simUrl}, API ${api}, callbacks via ${proxy.url}, ${slots.length} workers`);

  // Submission, spread over the kills.
  const submitted = new Map(); // index → {id, body, expect}
  const canceled = new Set();
  const sub = { batches: 0, retries: 0, replays: 0, replayed: 0, cancels: 0, cancelRefused: 0 };
  const post = async (path, body) => {
    const res = await fetch(api + path, {
      method: "POST",
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: await res.json().catch(() => null) };
  };
  const submitMs = opts.submitMs || opts.kills * opts.killEveryMs * 0.8;
  const batches = Math.ceil(opts.messages / opts.batch);
  let submitDone = false;
  const submitter = (async () => {
    const start = Date.now();
    for (let b = 0; b < batches; b++) {
      const due = start + (submitMs * b) / batches;
      if (due > Date.now()) await sleep(due - Date.now());
      const plans = [];
      for (let i = b * opts.batch; i < Math.min(opts.messages, (b + 1) * opts.batch); i++) {
        plans.push({ i, ...planMessage(i) });
      }
      const payload = { messages: plans.map((p) => p.m) };
      // Retried with the same idempotency keys until the API answers: nothing twice.
      let res;
      for (let n = 0; ; n++) {
        res = await post("/v1/messages/batch", payload).catch((e) => ({ status: 0, error: e }));
        if (res.status === 200) break;
        sub.retries += 1;
        if (n > 50) {
          throw new Error(`batch ${b} refused: ${res.status} ${JSON.stringify(res.json)}`);
        }
        await sleep(200);
      }
      sub.batches += 1;
      plans.forEach((p, k) => {
        const d = res.json.data[k];
        if (!d || d.error) throw new Error(`message ${p.i} refused: ${JSON.stringify(d)}`);
        submitted.set(p.i, { id: d.id, body: p.m.body, expect: p.expect });
      });
      // Now and then the whole batch again: the API must return the same messages.
      if (rand() < 0.03) {
        const again = await post("/v1/messages/batch", payload);
        sub.replays += 1;
        sub.replayed += again.json?.replayed ?? 0;
        if (again.json?.created !== 0) throw new Error(`a replayed batch created messages`);
      }
      for (const p of plans.filter((x) => x.cancel)) {
        const id = submitted.get(p.i).id;
        const c = await post(`/v1/messages/${id}/cancel`);
        if (c.status === 200 && c.json?.status === "canceled") {
          canceled.add(id);
          sub.cancels += 1;
        } else {
          sub.cancelRefused += 1; // already claimed: it goes on
        }
      }
    }
    submitDone = true;
    say(`submitted ${submitted.size} messages in ${sub.batches} batches`);
  })();

  // The killer: SIGKILL a random worker every few seconds, start another in its place.
  const kills = [];
  const killer = (async () => {
    while (!submitDone || kills.length < opts.kills) {
      await sleep(opts.killEveryMs * (0.5 + rand()));
      const k = Math.floor(rand() * slots.length);
      const victim = slots[k];
      const at = Date.now();
      victim.proc.kill("SIGKILL");
      const exit = await victim.exited;
      children.delete(victim);
      kills.push({ pid: victim.pid, at, signal: exit.signal });
      slots[k] = await startWorker();
      if (kills.length % 5 === 0) say(`${kills.length} kills`);
    }
  })();

  await Promise.all([submitter, killer]);
  const drainStart = Date.now();
  say(`${kills.length} kills done; draining`);

  // Drain: nothing queued, sending or due; every callback delivered; held receipts applied; the
  // number of `sent` messages no longer moving.
  const status = async () => {
    const r = await db.query(
      `select
         count(*) filter (where status in ('queued', 'sending')
                            or (status = 'scheduled' and run_at < now() + interval '1 hour'))::int as active,
         count(*) filter (where status = 'sent')::int as sent,
         (select count(*)::int from smsq.pending_receipts) as held
       from smsq.messages`,
    );
    return r.rows[0];
  };
  let settled = false;
  let last = null;
  let still = 0;
  while (Date.now() - drainStart < opts.drainTimeoutMs) {
    const s = await status();
    const health = await fetch(`${simUrl}/_sim/health`).then((r) => r.json());
    const quiet = s.active === 0 && health.pendingCallbacks === 0;
    still = quiet && last && last.sent === s.sent && last.held === s.held ? still + 1 : 0;
    last = s;
    if (still >= 3) {
      settled = true;
      break;
    }
    await sleep(1000);
  }
  await fetch(`${simUrl}/_sim/drain`, { method: "POST" });
  say(settled ? "drained" : `drain timed out after ${opts.drainTimeoutMs} ms; checking anyway`);
  const drainMs = Date.now() - drainStart;

  // Stop smsq cleanly, then read both sides.
  await Promise.all(slots.map((w) => w.stop("SIGTERM")));
  await serve.stop("SIGTERM");
  const simLog = await fetch(`${simUrl}/_sim/log`).then((r) => r.json());
  const simMessages = [];
  for (let page = 0; ; page++) {
    const r = await fetch(
      `${simUrl}/2010-04-01/Accounts/${SIM_SID}/Messages.json?PageSize=1000&Page=${page}`,
      {
        headers: {
          authorization: "Basic " + Buffer.from(`${SIM_SID}:${SIM_TOKEN}`).toString("base64"),
        },
      },
    ).then((x) => x.json());
    simMessages.push(...r.messages);
    if (!r.next_page_uri) break;
  }
  await sim.stop("SIGTERM");
  const q = async (sql) => (await db.query(sql)).rows;
  const messages = await q(
    `select id, status, body, provider_message_id, in_doubt, run_at, last_error_code, attempts
     from smsq.messages`,
  );
  const attempts = await q(
    `select message_id, attempt, outcome, provider_message_id, http_status, error_code,
            error_message, worker_id
     from smsq.attempts order by id`,
  );
  const events = await q(
    `select id, message_id, type, from_status, to_status from smsq.message_events order by id`,
  );
  const sizes = await q(
    `select c.relname as name, pg_total_relation_size(c.oid)::bigint as bytes
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'smsq' and c.relkind = 'r' order by 2 desc`,
  );

  const result = check({
    run,
    submitted,
    canceled,
    messages,
    attempts,
    events,
    simLog,
    simMessages,
  });
  const faults = faultFigures(simLog);
  const abandoned = attempts.filter((a) => a.outcome === "abandoned");
  const killedPids = new Set(kills.map((k) => String(k.pid)));
  const killsWithCallsInFlight = new Set(
    abandoned.map((a) => a.worker_id?.split(":")[1]).filter((p) => killedPids.has(p)),
  ).size;
  const released = (
    await q(
      `select count(*)::int as n from smsq.message_events
       where type = 'status' and from_status = 'sending' and to_status = 'queued' and detail is null`,
    )
  )[0].n;
  const calls = attempts.filter(
    (a) => (a.outcome === "accepted" || a.outcome === "failed") && a.error_code !== "lookup_failed",
  ).length;
  const durationMs = Date.now() - t0;
  const summary = {
    run,
    seed,
    settled,
    messages: submitted.size,
    workers: opts.workers,
    kills: kills.length,
    killsWithCallsInFlight,
    abandonedAttempts: abandoned.length,
    reconciled: attempts.filter((a) => a.outcome === "reconciled").length,
    releasedUnsent: released,
    providerCalls: calls,
    callsPerMessage: +(calls / Math.max(1, submitted.size)).toFixed(3),
    faults,
    callbacks: {
      received: proxy.stats.requests,
      duplicates: proxy.stats.duplicates,
      outOfOrder: proxy.stats.outOfOrder,
      answers: proxy.stats.byStatus,
    },
    submission: sub,
    statuses: result.figures.statuses,
    waiting: result.figures.waiting,
    inDoubtFailed: result.figures.inDoubtFailed,
    inDoubtFailedCreated: result.figures.inDoubtFailedCreated,
    callsBeforeSending: result.figures.callsBeforeSending,
    unexpectedOutcomes: result.figures.unexpectedOutcomes,
    attemptOutcomes: result.figures.attempts,
    violations: result.violations.length,
    violationsByKind: result.byKind,
    tableBytes: Object.fromEntries(sizes.map((s) => [s.name, Number(s.bytes)])),
    durationMs,
    drainMs,
    database: opts.keep ? dbUrl : null,
    logDir,
  };
  writeFileSync(join(logDir, "summary.json"), JSON.stringify(summary, null, 2));
  writeFileSync(
    join(logDir, "violations.json"),
    JSON.stringify(result.violations.slice(0, 10_000), null, 2),
  );
  print(summary, result.violations);
  await cleanup();
  const ok = summary.violations === 0 && settled;
  // A clean run leaves nothing behind unless asked; a failed one keeps its logs to look at.
  if (ok && !opts.keep && !opts.logDir) rmSync(logDir, { recursive: true, force: true });
  return ok ? 0 : 1;
}

function print(s, violations) {
  const f = s.faults;
  const lines = [
    "",
    `chaos run ${s.run} (seed ${s.seed}) — ${(s.durationMs / 1000).toFixed(1)} s (drain ${(s.drainMs / 1000).toFixed(1)} s)`,
    `  messages        ${s.messages} submitted through the API (${s.submission.batches} batches, ${s.submission.replays} replayed whole, ${s.submission.cancels} canceled)`,
    `  workers         ${s.workers}; ${s.kills} SIGKILLs (${s.killsWithCallsInFlight} with calls in flight), ${s.abandonedAttempts} abandoned attempts, ${s.reconciled} reconciled`,
    `  provider calls  ${s.providerCalls} (${s.callsPerMessage} per message); ${f.created} messages created at the simulator; ${s.releasedUnsent} claims put back unsent (late for their rate slot); ${s.callsBeforeSending} calls failed before sending`,
    `  faults          429: ${f.rate429}, 500: ${f.http500Before + f.http500After} (${f.http500After} after creating), timeouts: ${f.timeouts}, dropped: ${f.droppedBefore + f.droppedAfter} (${f.droppedAfter} after creating), refused by rule (21211): ${f.rejectedByRule}`,
    `  callbacks       ${s.callbacks.received} received, ${s.callbacks.duplicates} duplicates, ${s.callbacks.outOfOrder} out of order; answers ${JSON.stringify(s.callbacks.answers)}`,
    `  statuses        ${JSON.stringify(s.statuses)}; waiting: ${s.waiting.scheduledFuture} scheduled for later, ${s.waiting.inDoubt} in doubt`,
    `  in doubt        ${s.inDoubtFailed} ended failed in doubt (${s.inDoubtFailedCreated} of them created at the provider)`,
    `  unexpected      ${Object.keys(s.unexpectedOutcomes).length === 0 ? "none" : JSON.stringify(s.unexpectedOutcomes)}`,
    `  settled         ${s.settled ? "yes" : "NO (drain timed out)"}`,
    `  violations      ${s.violations}${s.violations ? " " + JSON.stringify(s.violationsByKind) : ""}`,
  ];
  for (const v of violations.slice(0, 20)) lines.push(`    ${v.kind} ${v.id}: ${v.detail}`);
  console.log(lines.join("\n"));
  console.log(`CHAOS_SUMMARY ${JSON.stringify(s)}`);
}

process.on("SIGINT", () => {
  void cleanup().then(() => process.exit(130));
});

main().then(
  (code) => process.exit(code),
  async (e) => {
    console.error(`chaos: ${e.stack ?? e}`);
    await cleanup();
    process.exit(2);
  },
);
