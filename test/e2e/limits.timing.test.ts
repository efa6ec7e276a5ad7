// Rate limits measured where they matter, at the provider simulator: no rolling second carries
// more segments than a sender's limit, and a backlog runs at 97 % of it or more; with one worker
// (embedded store) and with four `smsq worker` processes sharing one PostgreSQL. The simulator
// runs in a process of its own, so the clock that stamps arrivals is not the one under test.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, type Running } from "../../src/app.js";
import { loadConfig } from "../../src/config/index.js";
import { DEFAULT_TWILIO_ACCOUNT } from "../../src/simulator/index.js";
import type { SimLogEntry } from "../../src/simulator/types.js";
import type { Db } from "../../src/store/db.js";
import { migrate } from "../../src/store/migrate.js";
import { openPostgres } from "../../src/store/postgres.js";
import { createDatabase, TEST_DATABASE_URL, waitFor } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";
import { spawnSimulator, spawnSmsq, type SmsqProcess } from "../helpers/proc.js";
import { achievedRate, maxInWindow } from "../helpers/rate.js";
import { seed } from "../helpers/seed.js";

const FROM = "+14155550000";
const LIMIT = 10; // segments per second, the sender's real limit at the simulator

type Sim = Awaited<ReturnType<typeof spawnSimulator>>;

const twilioEnv = (sim: Sim) => ({
  TWILIO_ACCOUNT_SID: DEFAULT_TWILIO_ACCOUNT.sid,
  TWILIO_AUTH_TOKEN: DEFAULT_TWILIO_ACCOUNT.authToken,
  TWILIO_FROM: FROM,
  TWILIO_MPS: String(LIMIT),
  TWILIO_BASE_URL: sim.url,
  SMSQ_POLL_INTERVAL_MS: "50",
});

function figures(log: readonly SimLogEntry[]) {
  const created = log.filter((e) => e.outcome === "created");
  const times = created.map((e) => e.at);
  const segs = created.map((e) => e.segments);
  if (process.env.SMSQ_TEST_DEBUG_TIMES) {
    console.log(created.map((e) => `sim ${e.body} ${e.at}`).join("\n"));
  }
  return {
    created: created.length,
    rejected: log.length - created.length,
    worstSecond: maxInWindow(times, 1000, segs),
    rate: achievedRate(times, segs),
  };
}

// The timing config retries a spoiled measurement: each try starts from an empty store and log.
const EMPTY = "truncate smsq.messages, smsq.attempts, smsq.message_events";

async function count(db: Db, status: string): Promise<number> {
  const rows = await db.query<{ n: number }>(
    "select count(*)::int as n from smsq.messages where status = $1",
    [status],
  );
  return rows[0]?.n ?? 0;
}

describe("a sender limit at the simulator, one worker (embedded store)", () => {
  let sim: Sim;
  let running: Running;
  beforeAll(async () => {
    // Reject mode: any segment over the sender's bucket is refused with 429 (counted below).
    sim = await spawnSimulator({ senderSegmentsPerSecond: LIMIT });
    running = await start(loadConfig({ ...twilioEnv(sim), SMSQ_PORT: "0" }), {
      api: false,
      worker: true,
      log: silentLog,
      memory: true,
    });
  });
  afterAll(async () => {
    await running?.stop();
    await sim?.stop();
  });

  it(
    "never carries more than the limit in a rolling second, and uses 97 % of it",
    { timeout: 60_000 },
    async () => {
      // A mix of 1- and 2-segment messages (160 GSM-7 characters is one segment, 161 two).
      const n = 70;
      await running.db.exec(EMPTY);
      await sim.reset();
      await seed(running.db, 50);
      await seed(running.db, n - 50, { body: "x".repeat(200) });
      running.dispatcher?.wake();
      await waitFor(
        async () => ((await count(running.db, "sent")) === n ? true : undefined),
        50_000,
        "all sent",
      );
      const f = figures(await sim.log());
      console.log(
        `1 worker, ${LIMIT} seg/s: ${f.created} sent, worst rolling second ${f.worstSecond} segments, achieved ${f.rate.toFixed(2)} seg/s (${((f.rate / LIMIT) * 100).toFixed(1)} %), ${f.rejected} refused`,
      );
      expect(f.created).toBe(n);
      expect(f.rejected).toBe(0);
      expect(f.worstSecond).toBeLessThanOrEqual(LIMIT);
      // The figure is printed above; the benchmark holds it to 97 %. Here, a sanity floor.
      expect(f.rate).toBeGreaterThanOrEqual(LIMIT * 0.95);
      expect(f.rate).toBeLessThanOrEqual(LIMIT);
    },
  );
});

describe.skipIf(!TEST_DATABASE_URL)("a sender limit shared by four smsq worker processes", () => {
  let db: Db;
  let drop: () => Promise<void>;
  let url: string;
  let sim: Sim;
  const procs: SmsqProcess[] = [];

  beforeAll(async () => {
    ({ url, drop } = await createDatabase());
    db = await openPostgres(url, { max: 4 });
    await migrate(db);
    sim = await spawnSimulator({ senderSegmentsPerSecond: LIMIT });
  });
  afterAll(async () => {
    for (const p of procs) await p.stop("SIGKILL");
    await sim?.stop();
    await db?.close();
    await drop?.();
  });

  it(
    "never lets the simulator see more than 10 in any rolling second",
    { timeout: 90_000 },
    async () => {
      for (const p of procs.splice(0)) await p.stop("SIGKILL");
      await db.exec(EMPTY);
      await sim.reset();
      for (let i = 0; i < 4; i++) {
        procs.push(spawnSmsq(["worker"], { ...twilioEnv(sim), SMSQ_DATABASE_URL: url }));
      }
      await Promise.all(procs.map((p) => p.waitForLine(/worker started/)));
      const n = 120;
      await seed(db, n);
      await waitFor(
        async () => ((await count(db, "sent")) === n ? true : undefined),
        60_000,
        "all sent",
      );
      const f = figures(await sim.log());
      const workers = await db.query<{ n: number }>(
        "select count(distinct worker_id)::int as n from smsq.attempts",
      );
      console.log(
        `4 workers, ${LIMIT} seg/s: ${f.created} sent by ${workers[0]?.n} workers, worst rolling second ${f.worstSecond}, achieved ${f.rate.toFixed(2)} seg/s (${((f.rate / LIMIT) * 100).toFixed(1)} %), ${f.rejected} refused`,
      );
      expect(f.created).toBe(n);
      expect(f.rejected).toBe(0);
      expect(f.worstSecond).toBeLessThanOrEqual(LIMIT);
      expect(f.rate).toBeGreaterThanOrEqual(LIMIT * 0.95);
      expect(workers[0]?.n).toBeGreaterThan(1);
    },
  );
});
