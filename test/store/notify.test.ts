// Cross-process wake-up on a PostgreSQL server: a submit through one process's API makes a
// worker in another claim at once, not at its next poll; the listener survives a lost
// connection.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, type Running } from "../../src/app.js";
import { loadConfig } from "../../src/config/index.js";
import { DueListener, DueNotifier } from "../../src/store/notify.js";
import { openPostgres } from "../../src/store/postgres.js";
import type { Db } from "../../src/store/db.js";
import { createDatabase, TEST_DATABASE_URL, waitFor } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";

describe.skipIf(!TEST_DATABASE_URL)("LISTEN/NOTIFY wake-up (postgres)", () => {
  let url: string;
  let drop: () => Promise<void>;
  let db: Db;

  beforeAll(async () => {
    ({ url, drop } = await createDatabase());
    db = await openPostgres(url, { max: 2 });
  });
  afterAll(async () => {
    await db.close();
    await drop();
  });

  it("a poke reaches a listener; after its connection is killed it listens again", async () => {
    let heard = 0;
    const listener = new DueListener({ url, log: silentLog, retryMs: 20 }, () => (heard += 1));
    await listener.start();
    const notifier = new DueNotifier(db, silentLog);
    notifier.poke();
    await waitFor(async () => (heard >= 1 ? true : undefined), 5000, "the first notification");

    await db.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
       where application_name = 'smsq-listen' and datname = current_database()`,
    );
    await waitFor(async () => (listener.connects >= 2 ? true : undefined), 5000, "a reconnect");
    const before = heard;
    notifier.poke();
    await waitFor(async () => (heard > before ? true : undefined), 5000, "a notification again");
    await listener.close();
    const after = heard;
    // A second listener hears the next poke: by then the closed one would have heard it too.
    let witness = 0;
    const other = new DueListener({ url, log: silentLog }, () => (witness += 1));
    await other.start();
    notifier.poke();
    await waitFor(async () => (witness >= 1 ? true : undefined), 5000, "the witness hears it");
    await other.close();
    expect(heard).toBe(after);
  });

  it("a message submitted to an API-only process is sent by a worker long before its poll", async () => {
    const env = {
      SMSQ_DATABASE_URL: url,
      SMSQ_PORT: "0",
      SMSQ_HOST: "127.0.0.1",
      SMSQ_LOG_LEVEL: "silent",
      // A poll far longer than the test's wait: only the notification can wake the worker.
      SMSQ_POLL_INTERVAL_MS: "30000",
    };
    let api: Running | null = null;
    let worker: Running | null = null;
    try {
      api = await start(loadConfig(env), { api: true, worker: false, log: silentLog });
      worker = await start(loadConfig(env), { api: false, worker: true, log: silentLog });
      // The worker's first (empty) claim has passed: it is waiting on its poll.
      const w = worker;
      await waitFor(
        async () => ((w.dispatcher?.stats.rounds ?? 0) >= 1 ? true : undefined),
        5000,
        "the worker's first round",
      );
      const submitted = Date.now();
      const res = await fetch(`${api.url}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ to: "+14155550123", body: "wake up" }),
      });
      expect(res.status).toBe(202);
      const { id } = (await res.json()) as { id: string };
      await waitFor(
        async () => {
          const rows = await db.query<{ status: string }>(
            "select status from smsq.messages where id = $1",
            [id],
          );
          return rows[0]?.status === "delivered" || rows[0]?.status === "sent" ? true : undefined;
        },
        10_000,
        "the message sent",
      );
      expect(Date.now() - submitted).toBeLessThan(10_000);
    } finally {
      await worker?.stop();
      await api?.stop();
    }
  });
});
