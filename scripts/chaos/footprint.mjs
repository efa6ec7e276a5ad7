// What one PostgreSQL carries: for 1, 2, … workers, N messages submitted through the API, then
// sent by `smsq worker` processes through the provider simulator (no faults) with both status
// callbacks per message applied by `smsq serve --no-worker`. Measures delivered messages per
// second, CPU per message (workers, serve, the simulator, and the PostgreSQL backends serving
// this database), commits and tuples written per message (pg_stat_database), and the bytes
// each table and index holds per message (pg_total_relation_size / pg_relation_size), as
// written and after VACUUM FULL. Used for docs/scaling.md. After `npm run build`:
//
//   node scripts/chaos/footprint.mjs --messages 20000 --workers 1,2,4
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, URL } from "node:url";
import { randomBytes } from "node:crypto";
import pg from "pg";
import {
  backendCpu,
  cpuSeconds,
  freePort,
  optionsHelp,
  readOptions,
  SIM_SID,
  SIM_TOKEN,
  simulatorArgs,
  simulatorUrl,
  spawnSmsq,
  startCallbackProxy,
} from "./lib.mjs";

const { fetch } = globalThis;
const SPEC = {
  messages: 20_000,
  workers: "1,2,4",
  batch: 1000,
  /** smsq serve applies the callbacks (true), or the simulator sends none (false). */
  receipts: true,
  /** twilio (the simulator, over HTTP) or sandbox (in process: no HTTP, no limiter). */
  provider: "twilio",
  callbackDelayMs: 500,
  databaseUrl: process.env.SMSQ_TEST_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres",
  keep: false,
  /** Extra environment for smsq serve and the workers, as JSON (e.g. '{"SMSQ_CLAIM_BATCH":"100"}'). */
  env: "",
};
const opts = readOptions(SPEC);
if (opts.help) {
  console.log(`usage: node scripts/chaos/footprint.mjs [options]\n\n${optionsHelp(SPEC, opts)}`);
  process.exit(0);
}
const root = fileURLToPath(new URL("../..", import.meta.url));
const say = (s) => console.log(s);

async function admin(sql) {
  const c = new pg.Client({ connectionString: opts.databaseUrl });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

async function once(workers) {
  const id = randomBytes(4).toString("hex");
  const name = `smsq_footprint_${id}`;
  const logDir = join(root, ".tmp", "footprint", id);
  mkdirSync(logDir, { recursive: true });
  await admin(`create database ${name}`);
  const u = new URL(opts.databaseUrl);
  u.pathname = `/${name}`;
  const dbUrl = u.toString();
  const procs = [];
  let proxy = null;
  const db = new pg.Client({ connectionString: dbUrl });
  try {
    const sim = spawnSmsq(
      // Callbacks half a second after acceptance, as a carrier would (not 20 ms: a receipt
      // that overtakes the send's record is held and applied later, which costs more).
      simulatorArgs({ callbackDelayMs: opts.callbackDelayMs }),
      {},
      join(logDir, "sim.log"),
    );
    procs.push(sim);
    const simUrl = await simulatorUrl(sim);
    const port = await freePort();
    proxy = await startCallbackProxy(`http://127.0.0.1:${port}`);
    const sandbox = {
      SMSQ_DATABASE_URL: dbUrl,
      SMSQ_PROVIDER: "sandbox",
      SMSQ_POLL_INTERVAL_MS: "50",
    };
    const twilio = {
      SMSQ_DATABASE_URL: dbUrl,
      SMSQ_PROVIDER: "twilio",
      TWILIO_ACCOUNT_SID: SIM_SID,
      TWILIO_AUTH_TOKEN: SIM_TOKEN,
      TWILIO_FROM: "+14155550000",
      TWILIO_BASE_URL: simUrl,
      TWILIO_MPS: "5000",
      // As measured for docs/scaling.md (at c8936d9, before the limiter's late-send tolerance
      // adapted to a busy host: see scripts/chaos/run.mjs); pacing only, not the cost per message.
      SMSQ_RATE_HEADROOM: "0.5",
      SMSQ_ADAPTIVE_RATE: "false",
      SMSQ_POLL_INTERVAL_MS: "50",
      ...(opts.receipts ? { SMSQ_PUBLIC_URL: proxy.url } : {}),
    };
    const env = {
      ...(opts.provider === "sandbox" ? sandbox : twilio),
      ...(opts.env ? JSON.parse(opts.env) : {}),
    };
    const m = spawnSmsq(["migrate"], env, join(logDir, "migrate.log"));
    if ((await m.exited).code !== 0) throw new Error(m.output());
    const serve = spawnSmsq(
      ["serve", "--no-worker"],
      { ...env, SMSQ_PORT: String(port) },
      join(logDir, "serve.log"),
    );
    procs.push(serve);
    const api = (await serve.waitFor(/listening on (http:\/\/\S+?)\s/))[1];
    await db.connect();

    // Submit the backlog through the API.
    const t0 = Date.now();
    for (let b = 0; b < opts.messages; b += opts.batch) {
      const messages = [];
      for (let i = b; i < Math.min(opts.messages, b + opts.batch); i++) {
        messages.push({
          to: `+1415${String(2_000_000 + i).padStart(7, "0")}`,
          body: `Your appointment is tomorrow at 9:00. Reply STOP to opt out. ${i}`,
          idempotencyKey: `fp-${i}`,
        });
      }
      const res = await fetch(`${api}/v1/messages/batch`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ messages }),
      });
      if (res.status !== 200) throw new Error(`submit: ${res.status} ${await res.text()}`);
    }
    const submitS = (Date.now() - t0) / 1000;

    // Dispatch it with `workers` processes; sample CPU every second.
    const stat0 = (
      await db.query(
        "select xact_commit::bigint as c, tup_inserted::bigint as i, tup_updated::bigint as u, tup_deleted::bigint as d from pg_stat_database where datname = current_database()",
      )
    ).rows[0];
    const cpu0 = { serve: cpuSeconds(serve.pid), sim: cpuSeconds(sim.pid) };
    const backends = backendCpu(db);
    const sampleBackends = () => backends.sample();
    await sampleBackends();
    const t1 = Date.now();
    const ws = [];
    for (let k = 0; k < workers; k++) {
      const w = spawnSmsq(["worker"], env, join(logDir, `worker-${k}.log`));
      procs.push(w);
      ws.push(w);
    }
    await Promise.all(ws.map((w) => w.waitFor(/worker started/)));
    const workerCpu = new Map();
    const done = opts.receipts || opts.provider === "sandbox" ? "delivered" : "sent";
    for (;;) {
      await sampleBackends();
      for (const w of ws) workerCpu.set(w.pid, cpuSeconds(w.pid) ?? workerCpu.get(w.pid));
      const r = await db.query(
        `select count(*)::int as n from smsq.messages where status = '${done}'`,
      );
      if (r.rows[0].n >= opts.messages) break;
      if (Date.now() - t1 > 900_000) throw new Error("not all delivered after 15 minutes");
      await sleep(200);
    }
    const sendS = (Date.now() - t1) / 1000;
    await sampleBackends();
    const cpu = {
      workers: [...workerCpu.values()].reduce((a, b) => a + b, 0),
      serve: cpuSeconds(serve.pid) - cpu0.serve,
      sim: cpuSeconds(sim.pid) - cpu0.sim,
      postgres: backends.total(),
    };
    for (const w of ws) await w.stop("SIGTERM");
    const stat1 = (
      await db.query(
        "select xact_commit::bigint as c, tup_inserted::bigint as i, tup_updated::bigint as u, tup_deleted::bigint as d from pg_stat_database where datname = current_database()",
      )
    ).rows[0];
    const sizes = async () =>
      (
        await db.query(
          `select c.relname as name, c.relkind as kind, t.relname as tbl,
                  pg_total_relation_size(c.oid)::bigint as total,
                  pg_relation_size(c.oid)::bigint as main,
                  coalesce(s.n_live_tup, 0)::bigint as rows
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
           left join pg_index i on i.indexrelid = c.oid
           left join pg_class t on t.oid = i.indrelid
           left join pg_stat_user_tables s on s.relid = c.oid
           where n.nspname = 'smsq' and c.relkind in ('r', 'i')
           order by c.relkind desc, 4 desc`,
        )
      ).rows.map((r) => ({
        ...r,
        total: Number(r.total),
        main: Number(r.main),
        rows: Number(r.rows),
      }));
    const written = await sizes();
    await db.query("vacuum full analyze");
    const compact = await sizes();
    const counts = (
      await db.query(
        `select (select count(*) from smsq.messages)::int as messages,
                (select count(*) from smsq.attempts)::int as attempts,
                (select count(*) from smsq.message_events)::int as events,
                (select count(*) from smsq.idempotency_keys)::int as keys`,
      )
    ).rows[0];
    return {
      workers,
      messages: opts.messages,
      submitPerS: opts.messages / submitS,
      deliveredPerS: opts.messages / sendS,
      cpuMsPerMessage: Object.fromEntries(
        Object.entries(cpu).map(([k, v]) => [k, (v * 1000) / opts.messages]),
      ),
      commitsPerMessage: (Number(stat1.c) - Number(stat0.c)) / opts.messages,
      tuplesPerMessage: {
        inserted: (Number(stat1.i) - Number(stat0.i)) / opts.messages,
        updated: (Number(stat1.u) - Number(stat0.u)) / opts.messages,
      },
      callbacks: proxy.stats.requests,
      counts,
      written,
      compact,
    };
  } finally {
    await db.end().catch(() => undefined);
    for (const p of procs) await p.stop("SIGKILL");
    await proxy?.close();
    if (!opts.keep) await admin(`drop database if exists ${name} with (force)`);
  }
}

const results = [];
for (const w of String(opts.workers).split(",").map(Number)) {
  say(`-- ${w} worker(s), ${opts.messages} messages`);
  const r = await once(w);
  results.push(r);
  say(
    `   submit ${r.submitPerS.toFixed(0)}/s; delivered ${r.deliveredPerS.toFixed(0)}/s; CPU ms/message ${JSON.stringify(
      Object.fromEntries(Object.entries(r.cpuMsPerMessage).map(([k, v]) => [k, +v.toFixed(3)])),
    )}; commits/message ${r.commitsPerMessage.toFixed(2)}; tuples/message ${JSON.stringify(r.tuplesPerMessage)}`,
  );
}

// Bytes per message, from the last run: tables and their indexes, as written and compacted.
const last = results.at(-1);
const per = (list) => {
  const out = [];
  for (const r of list.filter((x) => x.kind === "r")) {
    const idx = list.filter((x) => x.kind === "i" && x.tbl === r.name);
    out.push({
      table: r.name,
      rows: r.rows,
      heapPerMessage: r.main / last.messages,
      indexesPerMessage: idx.reduce((a, x) => a + x.main, 0) / last.messages,
      totalPerMessage: r.total / last.messages,
      indexes: Object.fromEntries(idx.map((x) => [x.name, +(x.main / last.messages).toFixed(1)])),
    });
  }
  return out;
};
const table = (title, list) => {
  say(`\n${title}`);
  say("| table | rows | heap B/msg | indexes B/msg | total B/msg |");
  say("|---|---:|---:|---:|---:|");
  let sum = 0;
  for (const t of per(list)) {
    if (t.totalPerMessage < 1) continue;
    sum += t.totalPerMessage;
    say(
      `| ${t.table} | ${t.rows} | ${t.heapPerMessage.toFixed(0)} | ${t.indexesPerMessage.toFixed(0)} | ${t.totalPerMessage.toFixed(0)} |`,
    );
  }
  say(`| all | | | | ${sum.toFixed(0)} |`);
};
say(`\nrows: ${JSON.stringify(last.counts)}`);
table("as written (autovacuum only)", last.written);
table("after VACUUM FULL", last.compact);
say("\nindexes after VACUUM FULL, bytes per message:");
for (const t of per(last.compact)) {
  for (const [k, v] of Object.entries(t.indexes)) if (v >= 1) say(`  ${t.table}.${k}: ${v}`);
}
console.log(`FOOTPRINT ${JSON.stringify(results.map(({ written: _w, compact: _c, ...r }) => r))}`);
