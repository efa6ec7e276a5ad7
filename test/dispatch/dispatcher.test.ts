import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Dispatcher, type DispatcherSettings } from "../../src/dispatch/dispatcher.js";
import { ReceiptBuffer } from "../../src/dispatch/receipts.js";
import { createSandbox } from "../../src/providers/sandbox.js";
import type { Provider } from "../../src/providers/types.js";
import { getMessage } from "../../src/store/messages.js";
import { ENGINES, useTestStore, waitFor, type TestStore } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";
import { TINY_BACKOFF } from "../helpers/providers.js";
import { deferred, failure, ok, scripted } from "../helpers/providers.js";
import { phone, seed } from "../helpers/seed.js";

const settings: DispatcherSettings = {
  batchSize: 50,
  concurrency: 100,
  pollMs: 20,
  leaseMs: 60_000,
  sendTimeoutMs: 5_000,
  housekeepingMs: 10,
  // Tiny backoff so retries come due at once; the delay maths has its own unit tests.
  retry: { maxAttempts: 3, backoff: TINY_BACKOFF, settleMs: 0 },
};

async function statusCounts(store: TestStore): Promise<Record<string, number>> {
  const rows = await store.db.query<{ status: string; n: number }>(
    "select status, count(*)::int as n from smsq.messages group by status",
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

describe.each(ENGINES)("dispatcher on %s", (engine) => {
  const store = useTestStore(engine);
  let receipts: ReceiptBuffer;
  let running: Dispatcher | null = null;

  const startWith = (provider: Provider, over: Partial<DispatcherSettings> = {}) => {
    running = new Dispatcher({
      db: store.db,
      log: silentLog,
      provider,
      workerId: "test-worker",
      settings: { ...settings, ...over },
    });
    running.start();
    return running;
  };

  beforeEach(() => {
    receipts = new ReceiptBuffer(store.db, silentLog, { flushMs: 5 });
  });
  afterEach(async () => {
    await running?.stop();
    running = null;
    await receipts.close();
  });

  it("sends every message once through the sandbox and applies its delivered receipt", async () => {
    const ids = await seed(store.db, 300);
    startWith(createSandbox({ sink: receipts }));
    await waitFor(async () => ((await statusCounts(store)).delivered === 300 ? true : undefined));
    const attempts = await store.db.query<{ message_id: string; n: number }>(
      "select message_id, count(*)::int as n from smsq.attempts group by message_id",
    );
    expect(attempts).toHaveLength(300);
    expect(attempts.every((a) => a.n === 1)).toBe(true);
    const m = await getMessage(store.db, ids[0] as string);
    expect(m?.events.map((e) => e.toStatus)).toEqual(["queued", "sent", "delivered"]);
  });

  it("retries a retryable failure with backoff and delivers on a later attempt", async () => {
    const [id] = await seed(store.db, 1);
    const p = scripted((_m, n) => (n === 1 ? failure(true) : ok()), receipts);
    startWith(p);
    const m = await waitFor(async () => {
      const got = await getMessage(store.db, id as string);
      return got?.status === "delivered" ? got : undefined;
    });
    expect(p.calls.map((c) => c.attempt)).toEqual([1, 2]);
    expect(m.attempts.map((a) => a.outcome)).toEqual(["failed", "accepted"]);
    expect(m.attemptCount).toBe(2);
  });

  it("fails a non-retryable failure at once, and stops at the attempt budget", async () => {
    const [perm] = await seed(store.db, 1);
    const [flaky] = await seed(store.db, 1, { to: phone(9) });
    const p = scripted((m) => (m.id === perm ? failure(false, "21211") : failure(true)));
    startWith(p);
    await waitFor(async () => ((await statusCounts(store)).failed === 2 ? true : undefined));
    const a = await getMessage(store.db, perm as string);
    expect(a?.attemptCount).toBe(1);
    expect(a?.lastError).toMatchObject({ code: "21211", class: "recipient_permanent" });
    const b = await getMessage(store.db, flaky as string);
    expect(b?.attemptCount).toBe(settings.retry.maxAttempts);
    expect(b?.attempts).toHaveLength(settings.retry.maxAttempts);
  });

  it("ends a suppressed recipient's message without calling the provider", async () => {
    const [id] = await seed(store.db, 1);
    await store.db.query(
      "insert into smsq.suppressions (phone, reason, source) values ($1, 'STOP', 'test')",
      [phone(0)],
    );
    const p = scripted(() => ok());
    startWith(p);
    await waitFor(async () =>
      (await getMessage(store.db, id as string))?.status === "suppressed" ? true : undefined,
    );
    expect(p.calls).toHaveLength(0);
  });

  it("treats a thrown adapter error as an ambiguous failure, not a crash", async () => {
    const [id] = await seed(store.db, 1);
    startWith(
      scripted(() => {
        throw new Error("socket hang up");
      }),
      { retry: { maxAttempts: 1, backoff: TINY_BACKOFF } },
    );
    const m = await waitFor(async () => {
      const got = await getMessage(store.db, id as string);
      return got?.status === "failed" ? got : undefined;
    });
    expect(m.lastError).toMatchObject({ code: "exception", class: "ambiguous" });
  });

  it("sends a scheduled message once its time comes", async () => {
    const [id] = await seed(store.db, 1, { sendAt: new Date(Date.now() + 3600_000).toISOString() });
    const p = scripted(() => ok(), receipts);
    const d = startWith(p);
    // Not due: several rounds of housekeeping and claims leave it alone.
    await waitFor(() => (d.stats.rounds >= 3 ? true : undefined));
    expect(d.stats.claimed).toBe(0);
    expect((await getMessage(store.db, id as string))?.status).toBe("scheduled");
    await store.db.query("update smsq.messages set run_at = now() where id = $1", [id]);
    await waitFor(async () =>
      (await getMessage(store.db, id as string))?.status === "delivered" ? true : undefined,
    );
    expect(p.calls).toHaveLength(1);
  });

  it("on stop, claims nothing new and records the calls in flight before resolving", async () => {
    await seed(store.db, 10);
    const gate = deferred();
    const p = scripted(async () => {
      await gate.promise;
      return ok();
    });
    const d = startWith(p, { batchSize: 4, concurrency: 4 });
    await waitFor(() => (p.calls.length === 4 ? true : undefined));
    const stopped = d.stop();
    gate.resolve();
    await stopped;
    running = null;
    const counts = await statusCounts(store);
    expect(counts).toEqual({ sent: 4, queued: 6 });
    expect(d.inFlight).toBe(0);
  });

  it("gives the low lane a share of claim rounds, so bulk never starves behind urgent messages", async () => {
    const high = new Set(await seed(store.db, 60, { priority: "high" }));
    await seed(store.db, 60, { priority: "low" });
    const p = scripted(() => ok());
    startWith(p, { batchSize: 5, concurrency: 5 });
    await waitFor(() => (p.calls.length >= 40 ? true : undefined));
    const first = p.calls.slice(0, 40);
    const lows = first.filter((c) => !high.has(c.id)).length;
    // Strict priority would send 40 urgent ones first; the share lets some bulk through,
    // while urgent messages still get most rounds.
    expect(lows).toBeGreaterThanOrEqual(3);
    expect(40 - lows).toBeGreaterThanOrEqual(25);
  });
});
