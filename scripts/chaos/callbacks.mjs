// What signed status callbacks cost `smsq serve --no-worker` on PostgreSQL: N messages already
// `sent` (inserted directly), then both Twilio callbacks per message (`sent`, then `delivered`)
// posted over HTTP with `--concurrency` requests in flight on a keep-alive agent. Measures
// callbacks per second, the CPU of the PostgreSQL backends serving this database and of serve
// (from /proc), and commits (pg_stat_database). After `npm run build`:
//
//   node scripts/chaos/callbacks.mjs --messages 2500 --concurrency 100
import { Buffer } from "node:buffer";
import { createHmac, randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { clearInterval, setInterval } from "node:timers";
import { fileURLToPath, URL, URLSearchParams } from "node:url";
import pg from "pg";
import { backendCpu, cpuSeconds, freePort, optionsHelp, readOptions, spawnSmsq } from "./lib.mjs";

const SPEC = {
  messages: 2500,
  concurrency: 100,
  /** Callbacks for provider ids never sent (held in pending_receipts), per message. */
  unknown: 0,
  databaseUrl: process.env.SMSQ_TEST_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres",
  /** Extra environment for smsq serve, as JSON. */
  env: "",
};
const SID = "AC00000000000000000000000000000000";
const TOKEN = "callbacks-bench-token";
const opts = readOptions(SPEC);
if (opts.help) {
  console.log(`usage: node scripts/chaos/callbacks.mjs [options]\n\n${optionsHelp(SPEC, opts)}`);
  process.exit(0);
}
const root = fileURLToPath(new URL("../..", import.meta.url));

/** Twilio's request signature: HMAC-SHA1 over the URL and the sorted parameters. */
function sign(url, params) {
  const data = Object.keys(params)
    .sort()
    .reduce((s, k) => s + k + params[k], url);
  return createHmac("sha1", TOKEN).update(data).digest("base64");
}

const id = randomBytes(4).toString("hex");
const name = `smsq_callbacks_${id}`;
const logDir = join(root, ".tmp", "callbacks", id);
mkdirSync(logDir, { recursive: true });
const admin = new pg.Client({ connectionString: opts.databaseUrl });
await admin.connect();
await admin.query(`create database ${name}`);
const u = new URL(opts.databaseUrl);
u.pathname = `/${name}`;
const dbUrl = u.toString();
const db = new pg.Client({ connectionString: dbUrl });
let serve = null;
try {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const env = {
    SMSQ_DATABASE_URL: dbUrl,
    SMSQ_PROVIDER: "twilio",
    TWILIO_ACCOUNT_SID: SID,
    TWILIO_AUTH_TOKEN: TOKEN,
    TWILIO_FROM: "+14155550000",
    SMSQ_PUBLIC_URL: publicUrl,
    ...(opts.env ? JSON.parse(opts.env) : {}),
  };
  const m = spawnSmsq(["migrate"], env, join(logDir, "migrate.log"));
  if ((await m.exited).code !== 0) throw new Error(m.output());
  await db.connect();
  await db.query(
    `insert into smsq.messages (id, api_key_id, to_number, body, segments, encoding, priority,
                                lane, status, run_at, provider, account, provider_message_id,
                                sent_at)
     select 'msg_' || lpad(g::text, 8, '0'), 'k', '+1415' || (2000000 + g), 'hello ' || g, 1,
            'GSM-7', 'normal', 1, 'sent', now(), 'twilio', 'twilio', 'SM' || g, now()
     from generate_series(1, $1::int) g`,
    [opts.messages],
  );
  await db.query("analyze");
  serve = spawnSmsq(
    ["serve", "--no-worker"],
    { ...env, SMSQ_PORT: String(port) },
    join(logDir, "serve.log"),
  );
  await serve.waitFor(/listening on (http:\/\/\S+?)\s/);

  // Both callbacks per message, `sent` before `delivered`, plus any for unknown ids.
  const bodies = [];
  for (let i = 1; i <= opts.messages; i++) {
    for (const s of ["sent", "delivered"]) bodies.push({ MessageSid: `SM${i}`, MessageStatus: s });
    for (let k = 0; k < opts.unknown; k++) {
      bodies.push({ MessageSid: `SMX${i}_${k}`, MessageStatus: "delivered" });
    }
  }
  const path = "/v1/webhooks/twilio/status";
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const post = (p) =>
    new Promise((resolve, reject) => {
      const params = { AccountSid: SID, ...p };
      const body = new URLSearchParams(params).toString();
      const req = http.request(
        {
          agent,
          host: "127.0.0.1",
          port,
          path,
          method: "POST",
          headers: {
            "content-type": "application/x-www-form-urlencoded",
            "content-length": Buffer.byteLength(body),
            "x-twilio-signature": sign(publicUrl + path, params),
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode));
        },
      );
      req.on("error", reject);
      req.end(body);
    });

  const stat = async () =>
    (
      await db.query(
        "select xact_commit::bigint as c from pg_stat_database where datname = current_database()",
      )
    ).rows[0];
  const backends = backendCpu(db);
  const sample = () => backends.sample();
  // Warm up: open the pool's connections and the agent's sockets, then measure.
  await Promise.all(
    Array.from({ length: 20 }, () => post({ MessageSid: "SMwarm", MessageStatus: "sent" })),
  );
  await sample();
  const s0 = await stat();
  const serve0 = cpuSeconds(serve.pid);
  const timer = setInterval(() => void sample(), 250);
  const codes = new Map();
  const latencies = [];
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (next < bodies.length) {
        const b = bodies[next++];
        const t = performance.now();
        const code = await post(b);
        latencies.push(performance.now() - t);
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  clearInterval(timer);
  await sample();
  const s1 = await stat();
  const serveCpu = cpuSeconds(serve.pid) - serve0;
  const pgCpu = backends.total();
  agent.destroy();
  const delivered = (
    await db.query("select count(*)::int as n from smsq.messages where status = 'delivered'")
  ).rows[0].n;
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  const n = bodies.length;
  console.log(
    JSON.stringify(
      {
        callbacks: n,
        concurrency: opts.concurrency,
        codes: Object.fromEntries(codes),
        delivered: `${delivered}/${opts.messages}`,
        seconds: +wall.toFixed(2),
        callbacksPerSecond: Math.round(n / wall),
        pgCpuMsPerCallback: +((pgCpu * 1000) / n).toFixed(3),
        serveCpuMsPerCallback: +((serveCpu * 1000) / n).toFixed(3),
        commitsPerCallback: +((Number(s1.c) - Number(s0.c)) / n).toFixed(3),
        latencyMs: { p50: +q(0.5).toFixed(1), p99: +q(0.99).toFixed(1) },
      },
      null,
      2,
    ),
  );
} finally {
  await serve?.stop("SIGTERM");
  await db.end().catch(() => undefined);
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
}
