// Workers killed with SIGKILL in the middle of sends: the messages they held come back when
// their lease runs out, in doubt, and are reconciled with the provider before any resend, so the
// simulator sees no duplicate and no message is lost.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/store/db.js";
import { migrate } from "../../src/store/migrate.js";
import { openPostgres } from "../../src/store/postgres.js";
import {
  DEFAULT_TWILIO_ACCOUNT,
  startSimulator,
  type Simulator,
} from "../../src/simulator/index.js";
import { createDatabase, TEST_DATABASE_URL, waitFor } from "../helpers/db.js";
import { spawnSmsq, type SmsqProcess } from "../helpers/proc.js";
import { seed } from "../helpers/seed.js";

const MESSAGES = 600;

describe.skipIf(!TEST_DATABASE_URL)("SIGKILL in the middle of sends", () => {
  let db: Db;
  let url: string;
  let drop: () => Promise<void>;
  let sim: Simulator;
  const dir = mkdtempSync(join(tmpdir(), "smsq-kill-"));
  const procs: SmsqProcess[] = [];

  beforeAll(async () => {
    ({ url, drop } = await createDatabase());
    db = await openPostgres(url, { max: 4 });
    await migrate(db);
    // Slow answers, so that a kill always finds calls in flight.
    sim = await startSimulator({ port: 0, behaviour: { latencyMs: 150 } });
  });
  afterAll(async () => {
    for (const p of procs) await p.stop("SIGKILL");
    await sim.close();
    await db.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const worker = () => {
    const p = spawnSmsq(["worker"], {
      SMSQ_DATABASE_URL: url,
      TWILIO_ACCOUNT_SID: DEFAULT_TWILIO_ACCOUNT.sid,
      TWILIO_AUTH_TOKEN: DEFAULT_TWILIO_ACCOUNT.authToken,
      TWILIO_FROM: "+14155550000",
      // The simulator has no sender limit here; the limiter is tested in test/e2e/limits*.
      TWILIO_MPS: "10000",
      TWILIO_BASE_URL: sim.url,
      SMSQ_LEASE_MS: "2000",
      SMSQ_WORKER_CONCURRENCY: "40",
      SMSQ_CLAIM_BATCH: "20",
      SMSQ_POLL_INTERVAL_MS: "50",
    });
    procs.push(p);
    return p;
  };

  it("loses nothing and sends nothing twice", { timeout: 120_000 }, async () => {
    await seed(db, MESSAGES);
    let kills = 0;
    let current = worker();
    await current.waitForLine(/worker started/);
    // Kill the worker three times while it has calls in flight, starting a new one each time.
    for (let k = 0; k < 3; k++) {
      const before = sim.log().length;
      await waitFor(
        () => (sim.log().length >= before + 40 ? true : undefined),
        30_000,
        "sends in progress",
      );
      expect(await current.stop("SIGKILL")).toBeNull();
      kills += 1;
      current = worker();
      await current.waitForLine(/worker started/);
    }
    await waitFor(
      async () => {
        const rows = await db.query<{ n: number }>(
          "select count(*)::int as n from smsq.messages where status = 'sent'",
        );
        return rows[0]?.n === MESSAGES ? true : undefined;
      },
      90_000,
      "every message sent",
    );
    const created = new Map<string, number>();
    for (const e of sim.log()) {
      if (e.outcome === "created") created.set(e.body, (created.get(e.body) ?? 0) + 1);
    }
    expect(created.size).toBe(MESSAGES);
    expect([...created.values()].filter((n) => n > 1)).toEqual([]);
    const doubt = await db.query<{ abandoned: number; reconciled: number }>(
      `select count(*) filter (where outcome = 'abandoned')::int as abandoned,
              count(*) filter (where outcome = 'reconciled')::int as reconciled
       from smsq.attempts`,
    );
    console.log(
      `${kills} SIGKILLs over ${MESSAGES} messages: ${doubt[0]?.abandoned} abandoned attempts, ${doubt[0]?.reconciled} reconciled, 0 duplicates`,
    );
    expect(doubt[0]?.abandoned).toBeGreaterThan(0);
    expect(await current.stop("SIGTERM")).toBe(0);
  });
});
