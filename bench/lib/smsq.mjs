// Starting smsq the way the sections need it: migrate, `smsq serve` (API, with or without its
// own worker), `smsq worker` processes, and submission through POST /v1/messages/batch.
import { setTimeout } from "node:timers";
import { join } from "node:path";
import { freePort } from "../../scripts/chaos/lib.mjs";
import { cpuSeconds } from "./cpu.mjs";
import { startSmsq } from "./procs.mjs";
import { SENDER, SIM_TWILIO } from "./sim.mjs";

const { fetch } = globalThis;

/** The environment of every smsq process of a setup: Twilio pointed at the simulator. */
export function smsqEnv({ dbUrl, dataDir, simUrl, publicUrl, extra = {} }) {
  return {
    ...(dbUrl ? { SMSQ_DATABASE_URL: dbUrl } : { SMSQ_DATA_DIR: dataDir }),
    SMSQ_PROVIDER: "twilio",
    ...SIM_TWILIO,
    TWILIO_FROM: SENDER,
    TWILIO_BASE_URL: simUrl,
    // The highest TWILIO_MPS accepted (10,000); high enough not to throttle, so the limiter's path runs without pacing anything.
    TWILIO_MPS: "10000",
    // Tuned for throughput, as the peers are (pg-boss fetches 1,000 jobs at a time): the
    // limited claim is a transaction of several round trips on a busy event loop, so larger
    // claims carry its cost over more messages (1 worker here: 50 → 1,690 msg/s, 500 → 2,870).
    SMSQ_CLAIM_BATCH: "500",
    SMSQ_WORKER_CONCURRENCY: "2000",
    ...(publicUrl ? { SMSQ_PUBLIC_URL: publicUrl } : {}),
    ...extra,
  };
}

export async function migrate(env, logFile) {
  const m = startSmsq(["migrate"], env, logFile);
  const r = await m.exited;
  if (r.code !== 0) throw new Error(`smsq migrate failed:\n${m.output()}`);
}

/** `smsq serve` (`--no-worker` unless `worker`); resolves with the child and its URL. */
export async function startServe(env, { worker = false, port, logFile }) {
  const p = port ?? (await freePort());
  const child = startSmsq(
    worker ? ["serve"] : ["serve", "--no-worker"],
    { ...env, SMSQ_PORT: String(p) },
    logFile,
  );
  // PGlite's first start creates a database: seconds on a busy host.
  const url = (await child.waitFor(/listening on (http:\/\/\S+?)\s/, 120_000))[1];
  return { child, url, pid: child.pid };
}

/**
 * `k` worker processes; each one's CPU is taken when it says "worker started", so that Node's
 * start-up and module loading are not counted as dispatch work. `cpu()` is what they used since.
 */
export async function startWorkers(k, env, tmpDir, tag) {
  const ws = Array.from({ length: k }, (_, i) =>
    startSmsq(["worker"], env, join(tmpDir, `${tag}-worker-${i}.log`)),
  );
  const base = await Promise.all(
    ws.map((w) => w.waitFor(/worker started/, 60_000).then(() => cpuSeconds(w.pid))),
  );
  const last = base.slice();
  return {
    children: ws,
    pids: ws.map((w) => w.pid),
    /** CPU seconds since start-up (a worker that exited counts up to its last reading). */
    cpu() {
      ws.forEach((w, i) => (last[i] = cpuSeconds(w.pid) ?? last[i]));
      return last.reduce((a, c, i) => a + (c - base[i]), 0);
    },
    stop: () => Promise.all(ws.map((w) => w.stop("SIGTERM"))),
  };
}

/**
 * Submits `msgs` in batches of `batch` with idempotency keys `<keyPrefix>-<i>`, `parallel`
 * requests in flight; retries a batch the API refused for load (429/503) with the same keys.
 * Resolves with the ids in order and the first request's start time.
 */
export async function submit(api, msgs, { batch = 1000, parallel = 2, keyPrefix }) {
  const ids = new Array(msgs.length);
  let next = 0;
  let firstAt = null;
  const one = async () => {
    for (;;) {
      const start = next;
      if (start >= msgs.length) return;
      next += batch;
      const part = msgs.slice(start, start + batch).map((m, k) => ({
        ...m,
        idempotencyKey: `${keyPrefix}-${start + k}`,
      }));
      for (let tries = 0; ; tries++) {
        firstAt ??= Date.now();
        const res = await fetch(`${api}/v1/messages/batch`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ messages: part }),
        });
        const json = await res.json().catch(() => null);
        if (res.status === 200) {
          json.data.forEach((d, k) => {
            if (!d?.id) throw new Error(`message ${start + k} refused: ${JSON.stringify(d)}`);
            ids[start + k] = d.id;
          });
          break;
        }
        if ((res.status !== 429 && res.status !== 503) || tries > 50) {
          throw new Error(`submit: ${res.status} ${JSON.stringify(json)?.slice(0, 300)}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, one));
  return { ids, firstAt };
}

/**
 * Claims the limiter put back unsent because they would have left too late for their rate
 * slot (a `sending → queued` status event without detail, as scripts/chaos/run.mjs counts
 * them): each one is a claim and a release done for nothing, so it is reported next to the
 * throughput.
 */
export async function putBack(client) {
  const r = await client.query(
    `select count(*)::int as n from smsq.message_events
     where type = 'status' and from_status = 'sending' and to_status = 'queued' and detail is null`,
  );
  return r.rows[0].n;
}
