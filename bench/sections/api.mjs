// API: how fast `POST /v1/messages` takes messages in, under load from autocannon, on a
// PostgreSQL server (`smsq serve --no-worker`, the API tier of a production setup) and on the
// embedded store (`smsq serve`, one process doing API and dispatch, as a first user runs it);
// and the batch endpoint's messages per second. Every answer that is not 2xx is counted.
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import autocannon from "autocannon";
import pg from "pg";
import { pidsMeter, postgresMeter } from "../lib/cpu.mjs";
import { r3, startServe } from "../lib/probe.mjs";
import { SIM_TWILIO } from "../lib/sim.mjs";

export const id = "api";
export const title = "API: POST /v1/messages requests/s and latency (PostgreSQL, embedded store)";

const { fetch } = globalThis;
const CONNECTIONS = 32;
const SINGLE = JSON.stringify({ to: "+14155552671", body: "Your code is 123456" });
const BATCH_SIZE = 100;
const BATCH = JSON.stringify({
  messages: Array.from({ length: BATCH_SIZE }, (_, i) => ({
    to: `+1415${String(2000000 + i).padStart(7, "0")}`,
    body: `Reminder ${i}: your appointment is tomorrow at 9:00`,
  })),
});

/** One autocannon run; the answer's figures, with every status code seen. */
async function load(url, path, body, seconds, connections = CONNECTIONS) {
  const r = await autocannon({
    url: url + path,
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    connections,
    duration: seconds,
  });
  const codes = Object.fromEntries(
    Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count]),
  );
  return {
    rps: r.requests.average,
    total: r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    ok: r["2xx"],
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    codes,
  };
}

/** One request first: the endpoint must answer 2xx, or the load figures would mean nothing. */
async function preflight(url, path, body) {
  const res = await fetch(url + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  const text = await res.text();
  if (res.status < 200 || res.status > 299) {
    throw new Error(`${path} answered ${res.status}: ${text.slice(0, 300)}`);
  }
  return { status: res.status, body: JSON.parse(text) };
}

export async function run(ctx) {
  const out = { figures: [], targets: [], notes: [] };
  const seconds = ctx.quick ? 5 : 12;
  const warm = ctx.quick ? 1 : 2;
  const fig = (name, value, unit, detail) =>
    out.figures.push({ name, value: r3(value), unit, detail });

  // One case: warm up (JIT, pool), then measure; non-2xx answers go to the figure and a note.
  // `meters`: CPU of the serve process (and PostgreSQL's backends for this database), so the
  // figures say where the time per request goes on this shared 2-core host.
  const measure = async (label, url, path, body, perRequest = 1, meters = {}) => {
    await load(url, path, body, warm, 8);
    const m = Object.entries(meters);
    for (const [, x] of m) await x.start();
    const r = await load(url, path, body, seconds);
    const cpu = [];
    for (const [k, x] of m) cpu.push(`${k} ${(((await x.stop()) / r.total) * 1000).toFixed(2)}`);
    const unit = perRequest > 1 ? "msg/s" : "req/s";
    const bad = r.non2xx + r.errors + r.timeouts;
    fig(
      `${label}: ${perRequest > 1 ? "messages" : "requests"}/s`,
      r.rps * perRequest,
      unit,
      `${r.total} requests in ${seconds} s, ${CONNECTIONS} connections; status ${JSON.stringify(r.codes)}${bad ? `; ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts` : ""}`,
    );
    fig(
      `${label}: latency p50`,
      r.p50,
      "ms",
      cpu.length ? `CPU ms per request: ${cpu.join(", ")}` : undefined,
    );
    fig(`${label}: latency p99`, r.p99, "ms", `max ${r.max} ms`);
    if (bad) {
      out.notes.push(
        `${label}: ${r.non2xx} non-2xx answers (${JSON.stringify(r.codes)}), ${r.errors} connection errors, ${r.timeouts} timeouts out of ${r.total}.`,
      );
    }
    ctx.log(
      `api: ${label}: ${r3(r.rps * perRequest)} ${unit}, p50 ${r.p50} ms, p99 ${r.p99} ms, codes ${JSON.stringify(r.codes)}`,
    );
    return r;
  };

  // PostgreSQL: the API tier alone, a Twilio account configured as in production (so the
  // deadline estimate runs), nothing consuming: the queue grows through the run.
  const target = await ctx.createDatabase("api");
  let serve = await startServe(
    ["--no-worker"],
    {
      SMSQ_DATABASE_URL: target.url,
      ...SIM_TWILIO,
      TWILIO_FROM: "+14155550000",
      TWILIO_BASE_URL: "http://127.0.0.1:9", // never called: no worker in this process
    },
    join(ctx.tmpDir, "api-serve-pg.log"),
  );
  try {
    const p = await preflight(serve.url, "/v1/messages", SINGLE);
    const b = await preflight(serve.url, "/v1/messages/batch", BATCH);
    if (b.body.created !== BATCH_SIZE) throw new Error(`batch created ${b.body.created}`);
    ctx.log(`api: PostgreSQL serve up in ${serve.startMs} ms; POST answered ${p.status}`);
    const meters = () => ({
      serve: pidsMeter([serve.pid]),
      postgres: postgresMeter(ctx.adminUrl, [target.name]),
    });
    const single = await measure(
      "PostgreSQL, POST /v1/messages",
      serve.url,
      "/v1/messages",
      SINGLE,
      1,
      meters(),
    );
    const batch = await measure(
      `PostgreSQL, POST /v1/messages/batch (${BATCH_SIZE} per request)`,
      serve.url,
      "/v1/messages/batch",
      BATCH,
      BATCH_SIZE,
      meters(),
    );
    // Everything acknowledged is stored (warm-ups and preflights included, hence >=).
    const c = new pg.Client({ connectionString: target.url });
    await c.connect();
    const stored = Number((await c.query("select count(*) from smsq.messages")).rows[0].count);
    await c.end();
    const acked = single.ok + batch.ok * BATCH_SIZE;
    if (stored < acked) {
      out.notes.push(
        `PostgreSQL: ${acked} messages acknowledged in the timed runs but only ${stored} stored.`,
      );
    }
    out.notes.push(
      `PostgreSQL: \`smsq serve --no-worker\` with a Twilio account configured (rate limits, so the deadline estimate runs) and nothing consuming; ${stored.toLocaleString("en")} messages stored at the end (timed runs acknowledged ${acked.toLocaleString("en")}, the rest are warm-ups).`,
    );
  } finally {
    await serve.stop("SIGTERM");
    await target.drop();
  }

  // The embedded store, as `npx smsq serve` starts: no provider configured (sandbox), worker on,
  // in one process with the API; then the same with --no-worker.
  for (const worker of [true, false]) {
    const dir = mkdtempSync(join(ctx.tmpDir, "api-pglite-"));
    const label = `embedded store, serve${worker ? " (API + worker, sandbox)" : " --no-worker"}`;
    serve = await startServe(
      worker ? [] : ["--no-worker"],
      { SMSQ_DATA_DIR: dir },
      join(ctx.tmpDir, `api-serve-pglite-${worker}.log`),
    );
    try {
      await preflight(serve.url, "/v1/messages", SINGLE);
      await measure(`${label}, POST /v1/messages`, serve.url, "/v1/messages", SINGLE, 1, {
        serve: pidsMeter([serve.pid]),
      });
    } finally {
      await serve.stop("SIGTERM");
    }
  }
  out.notes.push(
    `autocannon ${CONNECTIONS} connections, ${seconds} s per case after a ${warm} s warm-up with 8, run in the benchmark's own process on the same 2 cores as the server (and PostgreSQL): the load generator takes CPU from what it measures. Body: one 19-character GSM-7 message; the batch has ${BATCH_SIZE} different recipients. The embedded store is a fresh data directory per case; "API + worker" is the default \`smsq serve\` (the sandbox provider consumes what arrives, on the same thread as the API).`,
  );
  return out;
}
