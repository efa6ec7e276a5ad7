// PostgreSQL goes away and comes back: the API answers 503 and stores nothing meanwhile, the
// dispatcher pauses and keeps the outcomes of calls it made, and both recover by themselves.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, type Running } from "../../src/app.js";
import { loadConfig } from "../../src/config/index.js";
import { Dispatcher } from "../../src/dispatch/dispatcher.js";
import type { Db } from "../../src/store/db.js";
import { getMessage } from "../../src/store/messages.js";
import { migrate } from "../../src/store/migrate.js";
import { openPostgres } from "../../src/store/postgres.js";
import { createDatabase, TEST_DATABASE_URL, waitFor } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";
import { TINY_BACKOFF } from "../helpers/providers.js";
import { deferred, ok, scripted } from "../helpers/providers.js";
import { seed } from "../helpers/seed.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";

describe.skipIf(!TEST_DATABASE_URL)("a PostgreSQL outage", () => {
  let direct: Db;
  let url: string;
  let drop: () => Promise<void>;
  let proxy: TcpProxy;
  let proxiedUrl: string;

  beforeAll(async () => {
    ({ url, drop } = await createDatabase());
    direct = await openPostgres(url, { max: 2 });
    await migrate(direct);
    const u = new URL(url);
    proxy = new TcpProxy(u.hostname, Number(u.port || 5432));
    await proxy.up();
    u.port = String(proxy.port);
    proxiedUrl = u.toString();
  });
  afterAll(async () => {
    await proxy.down();
    await direct.close();
    await drop();
  });

  it(
    "gets 503 from the API, stores nothing, and recovers by itself",
    { timeout: 90_000 },
    async () => {
      const config = loadConfig({
        SMSQ_DATABASE_URL: proxiedUrl,
        SMSQ_PORT: "0",
        SMSQ_POLL_INTERVAL_MS: "20",
      });
      const running: Running = await start(config, { api: true, worker: true, log: silentLog });
      try {
        const post = (to: string) =>
          fetch(`${running.url}/v1/messages`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ to, body: "reminder" }),
          });
        const before = await post("+14155552671");
        expect(before.status).toBe(202);

        await proxy.down();
        const during = await post("+14155552672");
        expect(during.status).toBe(503);
        expect(((await during.json()) as { error: { code: string } }).error.code).toBe(
          "store_unavailable",
        );
        expect((await fetch(`${running.url}/readyz`)).status).toBe(503);
        expect((await fetch(`${running.url}/healthz`)).status).toBe(200);

        await proxy.up();
        const after = await waitFor(async () => {
          const r = await post("+14155552673");
          return r.status === 202 ? r : undefined;
        }, 20_000);
        const { id } = (await after.json()) as { id: string };
        await waitFor(
          async () => ((await getMessage(direct, id))?.status === "delivered" ? true : undefined),
          20_000,
        );
        // The first message may have been in flight when the store went away: its outcome is
        // recorded when the worker's retry comes round (backoff up to 5 s), not lost.
        const rows = await waitFor(async () => {
          const r = await direct.query<{ to_number: string; status: string }>(
            "select to_number, status from smsq.messages order by to_number",
          );
          return r.every((m) => m.status === "delivered") ? r : undefined;
        }, 45_000).catch(async (e: unknown) => {
          const state = await direct.query(
            `select m.to_number, m.status, m.provider_message_id, m.lease_owner,
                  (select count(*)::int from smsq.pending_receipts) as held
           from smsq.messages m`,
          );
          throw new Error(`${(e as Error).message}: ${JSON.stringify(state)}`);
        });
        // The message refused with 503 is not there; the others are delivered.
        expect(rows).toEqual([
          { to_number: "+14155552671", status: "delivered" },
          { to_number: "+14155552673", status: "delivered" },
        ]);
      } finally {
        await running.stop();
      }
    },
  );

  it("keeps the outcome of calls in flight and records it once the store is back", async () => {
    await direct.exec("truncate smsq.messages, smsq.attempts, smsq.message_events");
    await seed(direct, 5);
    const db = await openPostgres(proxiedUrl, { max: 4 });
    const gate = deferred();
    const p = scripted(async () => {
      await gate.promise;
      return ok();
    });
    const d = new Dispatcher({
      db,
      log: silentLog,
      provider: p,
      workerId: "outage-worker",
      settings: {
        batchSize: 10,
        concurrency: 10,
        pollMs: 20,
        leaseMs: 120_000,
        sendTimeoutMs: 10_000,
        housekeepingMs: 50,
        retry: { maxAttempts: 3, backoff: TINY_BACKOFF, settleMs: 0 },
      },
    });
    d.start();
    try {
      await waitFor(() => (p.calls.length === 5 ? true : undefined));
      await proxy.down();
      gate.resolve();
      // The calls finished while the store is down: their outcomes must wait, not vanish.
      await waitFor(() => (d.stats.storeErrors >= 2 ? true : undefined), 20_000);
      const meanwhile = await direct.query<{ n: number }>(
        "select count(*)::int as n from smsq.messages where status = 'sending'",
      );
      expect(meanwhile[0]?.n).toBe(5);
      await proxy.up();
      await waitFor(async () => {
        const rows = await direct.query<{ n: number }>(
          "select count(*)::int as n from smsq.messages where status = 'sent'",
        );
        return rows[0]?.n === 5 ? true : undefined;
      }, 20_000);
      const attempts = await direct.query<{ n: number }>(
        "select count(*)::int as n from smsq.attempts",
      );
      expect(attempts[0]?.n).toBe(5);
      expect(p.calls).toHaveLength(5);
    } finally {
      await d.stop();
      await db.close();
    }
  });
});
