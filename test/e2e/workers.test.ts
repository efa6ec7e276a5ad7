// Scale-out as users run it: several `smsq worker` processes against one PostgreSQL server.
// Every message must be sent exactly once: checked against the sandbox's own send log (one
// line per provider call, written by the workers) and against the attempts table.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/store/db.js";
import { migrate } from "../../src/store/migrate.js";
import { openPostgres } from "../../src/store/postgres.js";
import { createDatabase, TEST_DATABASE_URL, waitFor } from "../helpers/db.js";
import { spawnSmsq, type SmsqProcess } from "../helpers/proc.js";
import { seed } from "../helpers/seed.js";

const WORKERS = 3;
const MESSAGES = Number(process.env.SMSQ_TEST_WORKER_MESSAGES ?? 5000);

describe.skipIf(!TEST_DATABASE_URL)("several smsq worker processes on one PostgreSQL", () => {
  let db: Db;
  let url: string;
  let drop: () => Promise<void>;
  const dir = mkdtempSync(join(tmpdir(), "smsq-workers-"));
  const log = join(dir, "sandbox.jsonl");
  const workers: SmsqProcess[] = [];

  beforeAll(async () => {
    ({ url, drop } = await createDatabase());
    db = await openPostgres(url, { max: 4 });
    await migrate(db);
  });
  afterAll(async () => {
    for (const w of workers) await w.stop("SIGKILL");
    await db.close();
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`send each of ${MESSAGES} messages exactly once`, { timeout: 180_000 }, async () => {
    // All workers up and idle first, then the backlog arrives: they share it from the start.
    for (let i = 0; i < WORKERS; i++) {
      workers.push(spawnSmsq(["worker"], { SMSQ_DATABASE_URL: url, SMSQ_SANDBOX_LOG: log }));
    }
    await Promise.all(workers.map((w) => w.waitForLine(/worker started/)));
    const started = Date.now();
    const ids = await seed(db, MESSAGES);
    await waitFor(
      async () => {
        const rows = await db.query<{ n: number }>(
          "select count(*)::int as n from smsq.messages where status = 'delivered'",
        );
        return rows[0]?.n === MESSAGES ? true : undefined;
      },
      150_000,
      "every message delivered",
    );
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `${MESSAGES} messages, ${WORKERS} workers: ${(MESSAGES / seconds).toFixed(0)} msg/s end to end`,
    );

    // Graceful stop: every worker exits 0 after SIGTERM.
    const codes = await Promise.all(workers.map((w) => w.stop("SIGTERM")));
    expect(codes).toEqual(Array(WORKERS).fill(0));

    const sends = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { id: string; pid: number });
    expect(sends).toHaveLength(MESSAGES);
    expect(new Set(sends.map((s) => s.id))).toEqual(new Set(ids));
    // The work really was shared.
    const perWorker = new Map<number, number>();
    for (const s of sends) perWorker.set(s.pid, (perWorker.get(s.pid) ?? 0) + 1);
    expect(perWorker.size).toBe(WORKERS);

    const attempts = await db.query<{ n: number; messages: number }>(
      "select count(*)::int as n, count(distinct message_id)::int as messages from smsq.attempts",
    );
    expect(attempts[0]).toEqual({ n: MESSAGES, messages: MESSAGES });
  });
});
