// Sharding simulated on one PostgreSQL server: one database per shard, each with its own
// `smsq serve --no-worker` and `smsq worker` processes pinned to it (SMSQ_DATABASE_URL), and one
// router in front that sends each tenant's submissions to its shard. Measures, for the same
// number of worker processes and messages, one database against two shards; then, with two
// shards, cuts shard B's database connections (a TCP proxy in front of PostgreSQL goes down)
// for a while and measures shard A's rate meanwhile, what B's tenants get from the API, and
// that B catches up with nothing lost or sent twice. Rates count messages the provider accepted
// (sent or delivered). Status callbacks B refused while its store was down are lost once the
// simulator's retries run out: those messages stay `sent`, and are counted. Used for
// docs/scaling.md. After `npm run build`:
//
//   node scripts/chaos/shards.mjs --messages 20000 --workers 2 --outage-ms 15000
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { join } from "node:path";
import { setTimeout } from "node:timers";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, URL } from "node:url";
import pg from "pg";
import {
  freePort,
  optionsHelp,
  readOptions,
  SIM_SID,
  SIM_TOKEN,
  simulatorArgs,
  simulatorUrl,
  spawnSmsq,
} from "./lib.mjs";

const { fetch } = globalThis;
const SPEC = {
  /** Messages in each run (split evenly between the tenants). */
  messages: 20_000,
  /** Worker processes in all: one database gets them all, two shards half each. */
  workers: 2,
  tenants: 8,
  outageMs: 15_000,
  /** The runs: shard counts, in order (the outage is cut in two-shard runs only). */
  runs: "1,2",
  databaseUrl: process.env.SMSQ_TEST_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres",
};
const opts = readOptions(SPEC);
if (opts.help) {
  console.log(`usage: node scripts/chaos/shards.mjs [options]\n\n${optionsHelp(SPEC, opts)}`);
  process.exit(0);
}
const root = fileURLToPath(new URL("../..", import.meta.url));
const logDir = join(root, ".tmp", "shards", randomBytes(4).toString("hex"));
mkdirSync(logDir, { recursive: true });
const say = (s) => console.log(s);
const pgTarget = new URL(opts.databaseUrl);

async function admin(sql) {
  const c = new pg.Client({ connectionString: opts.databaseUrl });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A TCP proxy in front of PostgreSQL: down() cuts every connection and refuses new ones. */
async function dbProxy() {
  const sockets = new Set();
  let server = null;
  const port = await freePort();
  const up = () =>
    new Promise((resolve) => {
      server = net.createServer((client) => {
        const upstream = net.connect(Number(pgTarget.port || 5432), pgTarget.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
          s.on("error", () => s.destroy());
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, "127.0.0.1", resolve);
    });
  const down = () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  await up();
  return { port, up, down, close: down };
}

const procs = [];
const cleanups = [];

/** One shard: a database, its proxy, serve (API + webhooks) and workers. */
async function startShard(name, simUrl, workers) {
  const db = `smsq_shard_${name}_${randomBytes(3).toString("hex")}`;
  await admin(`create database ${db}`);
  cleanups.push(() => admin(`drop database if exists ${db} with (force)`));
  const proxy = await dbProxy();
  cleanups.push(() => proxy.close().catch(() => undefined));
  const u = new URL(opts.databaseUrl);
  u.host = `127.0.0.1:${proxy.port}`;
  u.pathname = `/${db}`;
  const direct = new URL(opts.databaseUrl);
  direct.pathname = `/${db}`;
  const port = await freePort();
  const env = {
    SMSQ_DATABASE_URL: u.toString(),
    SMSQ_PROVIDER: "twilio",
    TWILIO_ACCOUNT_SID: SIM_SID,
    TWILIO_AUTH_TOKEN: SIM_TOKEN,
    TWILIO_FROM: "+14155550000",
    TWILIO_BASE_URL: simUrl,
    TWILIO_MPS: "5000",
    SMSQ_RATE_HEADROOM: "0.5", // as measured for docs/scaling.md: see footprint.mjs
    SMSQ_ADAPTIVE_RATE: "false",
    SMSQ_POLL_INTERVAL_MS: "50",
    SMSQ_PUBLIC_URL: `http://127.0.0.1:${port}`,
  };
  const m = spawnSmsq(["migrate"], env, join(logDir, `${name}-migrate.log`));
  if ((await m.exited).code !== 0) throw new Error(m.output());
  const serve = spawnSmsq(
    ["serve", "--no-worker"],
    { ...env, SMSQ_PORT: String(port) },
    join(logDir, `${name}-serve.log`),
  );
  procs.push(serve);
  const api = (await serve.waitFor(/listening on (http:\/\/\S+?)\s/))[1];
  const client = new pg.Client({ connectionString: direct.toString() });
  await client.connect();
  cleanups.push(() => client.end().catch(() => undefined));
  return {
    name,
    api,
    proxy,
    client,
    async startWorkers() {
      const ws = [];
      for (let k = 0; k < workers; k++) {
        const w = spawnSmsq(["worker"], env, join(logDir, `${name}-worker-${k}.log`));
        procs.push(w);
        ws.push(w);
      }
      await Promise.all(ws.map((w) => w.waitFor(/worker started/)));
      return ws;
    },
    /** Messages the provider accepted (sent, or delivered already). */
    async accepted() {
      const r = await client.query(
        "select count(*)::int as n from smsq.messages where status in ('sent', 'delivered')",
      );
      return r.rows[0].n;
    },
    async statuses() {
      const r = await client.query(
        "select status, count(*)::int as n from smsq.messages group by status order by status",
      );
      return Object.fromEntries(r.rows.map((x) => [x.status, x.n]));
    },
  };
}

/** The router: POST /v1/messages/batch with `x-tenant` goes to that tenant's shard. */
async function startRouter(shardOf) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const stats = { routed: {}, refused: {} };
  const server = http.createServer((req, res) => {
    const shard = shardOf(String(req.headers["x-tenant"] ?? ""));
    if (!shard) {
      res.writeHead(404).end();
      return;
    }
    const out = http.request(
      shard.api + req.url,
      { method: req.method, headers: { ...req.headers, host: new URL(shard.api).host }, agent },
      (r) => {
        const k = `${shard.name} ${r.statusCode}`;
        stats.routed[k] = (stats.routed[k] ?? 0) + 1;
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    out.on("error", () => {
      stats.refused[shard.name] = (stats.refused[shard.name] ?? 0) + 1;
      res.writeHead(502).end();
    });
    req.pipe(out);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${server.address().port}`, stats };
}

/** Submits `n` messages per tenant through the router; returns how many batches each shard refused. */
async function submit(router, tenants, n, tag) {
  const refused = {};
  for (const t of tenants) {
    for (let b = 0; b < n; b += 1000) {
      const messages = [];
      for (let i = b; i < Math.min(n, b + 1000); i++) {
        const k = t.index * 1_000_000 + i;
        messages.push({
          to: `+1415${String(2_000_000 + (k % 7_000_000)).padStart(7, "0")}`,
          body: `${tag} ${t.name} ${i}`,
          idempotencyKey: `${tag}-${t.name}-${i}`,
        });
      }
      for (;;) {
        const res = await fetch(`${router.url}/v1/messages/batch`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-tenant": t.name },
          body: JSON.stringify({ messages }),
        });
        if (res.status === 200) break;
        refused[t.shard] = (refused[t.shard] ?? 0) + 1;
        await sleep(500);
      }
    }
  }
  return refused;
}

async function run(shardCount) {
  const sim = spawnSmsq(simulatorArgs(), {}, join(logDir, `sim-${shardCount}.log`));
  procs.push(sim);
  const simUrl = await simulatorUrl(sim);
  const shards = [];
  for (const name of ["a", "b"].slice(0, shardCount)) {
    shards.push(await startShard(name, simUrl, opts.workers / shardCount));
  }
  const tenants = Array.from({ length: opts.tenants }, (_, i) => ({
    index: i,
    name: `tenant${i}`,
    shard: shards[i % shards.length].name,
  }));
  const byTenant = new Map(tenants.map((t) => [t.name, shards.find((s) => s.name === t.shard)]));
  const router = await startRouter((t) => byTenant.get(t));
  const per = Math.floor(opts.messages / tenants.length);
  const total = per * tenants.length;
  const tag = `s${shardCount}${randomBytes(2).toString("hex")}`;
  await submit(router, tenants, per, tag);
  const t0 = Date.now();
  await Promise.all(shards.map((s) => s.startWorkers()));
  const series = [];
  let outage = null;
  for (;;) {
    const counts = await Promise.all(shards.map((s) => s.accepted()));
    const at = Date.now() - t0;
    series.push({ at, counts });
    const sum = counts.reduce((a, b) => a + b, 0);
    if (shardCount === 2 && opts.outageMs > 0 && outage === null && counts[0] >= total / 2 / 5) {
      // Shard B's database goes away: its workers and API lose every connection.
      outage = { from: at, to: null, bRefused: 0, counts };
      await shards[1].proxy.down();
      const res = await fetch(`${router.url}/v1/messages/batch`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-tenant": tenants[1].name },
        body: JSON.stringify({ messages: [{ to: "+14155550123", body: `${tag} probe` }] }),
      });
      outage.apiStatus = res.status;
      setTimeout(() => {
        void shards[1].proxy.up().then(() => (outage.to = Date.now() - t0));
      }, opts.outageMs);
    }
    if (sum >= total) break;
    if (at > 900_000) throw new Error("not all delivered after 15 minutes");
    await sleep(250);
  }
  const seconds = (Date.now() - t0) / 1000;
  // Every callback attempted (with its retries), then what each shard holds.
  await fetch(`${simUrl}/_sim/drain`, { method: "POST" });
  await sleep(2000);
  const statuses = Object.fromEntries(
    await Promise.all(shards.map(async (s) => [s.name, await s.statuses()])),
  );
  // Each message created once at the provider, none lost.
  const log = await fetch(`${simUrl}/_sim/log`).then((r) => r.json());
  const created = new Map();
  for (const e of log) {
    if (e.outcome === "created" && e.body.startsWith(`${tag} tenant`)) {
      created.set(e.body, (created.get(e.body) ?? 0) + 1);
    }
  }
  const dup = [...created.values()].filter((n) => n > 1).length;
  const rate = (i, from, to) => {
    const a = series.findLast((p) => p.at <= from) ?? series[0];
    const b = series.findLast((p) => p.at <= to) ?? series.at(-1);
    return ((b.counts[i] - a.counts[i]) * 1000) / Math.max(1, b.at - a.at);
  };
  const out = {
    shards: shardCount,
    workers: opts.workers,
    messages: total,
    seconds,
    acceptedPerS: total / seconds,
    statuses,
    createdOnce: created.size,
    duplicates: dup,
    router: router.stats,
  };
  if (outage) {
    const to = outage.to ?? outage.from + opts.outageMs;
    out.outage = {
      ms: to - outage.from,
      apiStatusForShardB: outage.apiStatus,
      aRateBefore: rate(0, 0, outage.from),
      aRateDuring: rate(0, outage.from, to),
      aRateAfter: rate(0, to, series.at(-1).at),
      bRateBefore: rate(1, 0, outage.from),
      bRateDuring: rate(1, outage.from, to),
      bRateAfter: rate(1, to, series.at(-1).at),
    };
  }
  for (const p of procs.splice(0)) await p.stop("SIGTERM");
  for (const c of cleanups.splice(0).reverse()) await c();
  return out;
}

try {
  const results = [];
  for (const n of String(opts.runs).split(",").map(Number)) {
    say(`-- ${n} shard(s), ${opts.workers} workers in all, ${opts.messages} messages`);
    const r = await run(n);
    results.push(r);
    say(`   ${JSON.stringify(r)}`);
  }
  console.log(`SHARDS ${JSON.stringify(results)}`);
} finally {
  for (const p of procs) await p.stop("SIGKILL");
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
}
