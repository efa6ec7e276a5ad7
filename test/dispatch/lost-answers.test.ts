// A claim or a record that commits while its answer is lost (the connection drops after the
// server committed). The store is real; only the answer is taken away, by a wrapper that runs the
// statement and then throws the error pg throws when the connection ends.
import { afterEach, describe, expect, it } from "vitest";
import { Dispatcher, type DispatcherSettings } from "../../src/dispatch/dispatcher.js";
import type { Db } from "../../src/store/db.js";
import { claimDue } from "../../src/store/dispatch.js";
import { releaseOrphans } from "../../src/store/lost-answers.js";
import { getMessage } from "../../src/store/messages.js";
import { ENGINES, useTestStore, waitFor } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";
import { ok, scripted, TINY_BACKOFF } from "../helpers/providers.js";
import { seed } from "../helpers/seed.js";

const settings: DispatcherSettings = {
  batchSize: 10,
  concurrency: 10,
  pollMs: 20,
  // Far beyond the test's timeout: only the worker's own release can bring a message back.
  leaseMs: 600_000,
  sendTimeoutMs: 5_000,
  housekeepingMs: 10,
  retry: { maxAttempts: 3, backoff: TINY_BACKOFF, settleMs: 0 },
};

/** `db`, except that the first `times` statements matching `match` lose their answer. */
function losingAnswers(db: Db, match: RegExp, times = 1): Db & { lost: number } {
  const w = {
    lost: 0,
    kind: db.kind,
    exec: (sql: string) => db.exec(sql),
    transaction: db.transaction.bind(db),
    close: () => db.close(),
    async query<T extends Record<string, unknown>>(sql: string, params?: readonly unknown[]) {
      const rows = await db.query<T>(sql, params);
      if (w.lost < times && match.test(sql)) {
        w.lost += 1;
        throw new Error("Connection terminated unexpectedly");
      }
      return rows;
    },
  };
  return w;
}

const CLAIM = /set status = 'sending', lease_owner/;
const RECORD =
  /insert into smsq\.attempts \(message_id, attempt, provider, account, worker_id, outcome,\s+provider_message_id/;

describe.each(ENGINES)("statements whose answer is lost (%s)", (engine) => {
  const store = useTestStore(engine);
  let running: Dispatcher | null = null;

  afterEach(async () => {
    await running?.stop();
    running = null;
  });

  it("gives back the worker's own leases it does not hold, undoing the claim's attempt", async () => {
    const counters = () =>
      store.db.query<{ attempts: number }>(
        "select attempts from smsq.messages where status = 'queued'",
      );
    await seed(store.db, 3);
    const accounts = [{ account: "sandbox", provider: "sandbox", position: 0 }];
    const claimed = await claimDue(store.db, {
      workerId: "w1",
      limit: 3,
      leaseMs: 60_000,
      accounts,
    });
    expect(claimed).toHaveLength(3);
    const [held, ...rest] = claimed.map((m) => m.id);
    // Another worker's lease is never touched.
    await seed(store.db, 1);
    const other = await claimDue(store.db, { workerId: "w2", limit: 1, leaseMs: 60_000, accounts });
    const released = await releaseOrphans(store.db, "w1", [held as string]);
    expect(released.sort()).toEqual([...rest].sort());
    expect(await counters()).toEqual([{ attempts: 0 }, { attempts: 0 }]);
    for (const id of rest) {
      const m = await getMessage(store.db, id);
      expect(m?.status).toBe("queued");
      expect(m?.attempts).toEqual([]);
      expect(m?.inDoubt).toBe(false);
      expect(m?.events.at(-1)).toMatchObject({ fromStatus: "sending", toStatus: "queued" });
    }
    expect((await getMessage(store.db, held as string))?.status).toBe("sending");
    expect((await getMessage(store.db, other[0]?.id as string))?.status).toBe("sending");
    expect(await releaseOrphans(store.db, "w1", [held as string])).toEqual([]);
  });

  it("sends a message whose claim committed unseen at once, not after the lease, and not in doubt", async () => {
    const [id] = await seed(store.db, 1);
    const db = losingAnswers(store.db, CLAIM);
    const p = scripted(() => ok());
    running = new Dispatcher({ db, log: silentLog, provider: p, workerId: "w-claim", settings });
    running.start();
    await waitFor(async () =>
      (await getMessage(store.db, id as string))?.status === "sent" ? true : undefined,
    );
    expect(db.lost).toBe(1);
    expect(running.stats.orphansReleased).toBe(1);
    expect(p.calls).toHaveLength(1);
    const m = await getMessage(store.db, id as string);
    expect(m?.inDoubt).toBe(false);
    const counter = await store.db.query<{ attempts: number }>(
      "select attempts from smsq.messages where id = $1",
      [id],
    );
    expect(counter).toEqual([{ attempts: 1 }]);
    const attempts = await store.db.query<{ attempt: number; outcome: string }>(
      "select attempt, outcome from smsq.attempts where message_id = $1",
      [id],
    );
    expect(attempts).toEqual([{ attempt: 1, outcome: "accepted" }]);
  });

  it("writes the attempts of a record that committed unseen once, and logs no lost lease", async () => {
    const ids = await seed(store.db, 4);
    const db = losingAnswers(store.db, RECORD);
    const p = scripted(() => ok());
    running = new Dispatcher({ db, log: silentLog, provider: p, workerId: "w-record", settings });
    running.start();
    await waitFor(() => (db.lost === 1 && running?.inFlight === 0 ? true : undefined));
    await waitFor(async () => {
      const rows = await store.db.query<{ n: number }>(
        "select count(*)::int as n from smsq.messages where status = 'sent'",
      );
      return rows[0]?.n === 4 ? true : undefined;
    });
    const attempts = await store.db.query<{ message_id: string; n: number }>(
      "select message_id, count(*)::int as n from smsq.attempts group by message_id",
    );
    expect(attempts.map((a) => a.message_id).sort()).toEqual([...ids].sort());
    expect(attempts.every((a) => a.n === 1)).toBe(true);
    expect(running.stats.leaseLost).toBe(0);
    expect(running.stats.storeErrors).toBeGreaterThanOrEqual(1);
  });
});
