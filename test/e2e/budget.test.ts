// The cost guard: an account's daily segment budget stops its sends (messages wait, not fail),
// and GET /v1/accounts shows the account's health and usage.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Dispatcher } from "../../src/dispatch/dispatcher.js";
import { AlertSink } from "../../src/policy/alerts.js";
import { createTwilio } from "../../src/providers/twilio.js";
import {
  DEFAULT_TWILIO_ACCOUNT,
  startSimulator,
  type Simulator,
} from "../../src/simulator/index.js";
import { getAccountState, openCircuit } from "../../src/store/accounts.js";
import { startServer } from "../api/http.js";
import { ENGINES, openTestStore, waitFor, type TestStore } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";
import { FAST_BACKOFF } from "../helpers/providers.js";
import { seed } from "../helpers/seed.js";

describe.each(ENGINES)("cost guard and account health (%s)", (engine) => {
  let store: TestStore;
  let sim: Simulator;
  let d: Dispatcher | null = null;

  beforeAll(async () => {
    store = await openTestStore(engine);
    sim = await startSimulator({ port: 0 });
  });
  afterAll(async () => {
    await sim.close();
    await store.close();
  });
  afterEach(async () => {
    await d?.stop();
    d = null;
    await store.reset();
    sim.reset();
  });

  it("stops an account at its daily segment budget; the rest wait", async () => {
    // Two-segment messages (161 GSM-7 characters) against a budget of 6 segments: 3 messages.
    await seed(store.db, 5, { body: "x".repeat(161) });
    const alerts = new AlertSink(silentLog);
    d = new Dispatcher({
      db: store.db,
      log: silentLog,
      alerts,
      provider: createTwilio({
        account: "twilio-main",
        accountSid: DEFAULT_TWILIO_ACCOUNT.sid,
        auth: { username: DEFAULT_TWILIO_ACCOUNT.sid, password: DEFAULT_TWILIO_ACCOUNT.authToken },
        from: "+14155550000",
        baseUrl: sim.url,
      }),
      workerId: "budget-test",
      settings: {
        // One at a time: the budget can be overshot by the calls already in flight.
        batchSize: 1,
        concurrency: 1,
        pollMs: 10,
        leaseMs: 60_000,
        sendTimeoutMs: 1000,
        housekeepingMs: 20,
        retry: {
          maxAttempts: 3,
          backoff: FAST_BACKOFF,
        },
        dailySegmentBudgets: { "twilio-main": 6 },
      },
    });
    d.start();
    await waitFor(() =>
      alerts.active().some((a) => a.key === "budget:twilio-main") ? true : undefined,
    );
    const rounds = d.stats.rounds;
    await waitFor(() => (d!.stats.rounds >= rounds + 3 ? true : undefined));
    const st = await getAccountState(store.db, "twilio-main");
    expect(st).toMatchObject({ segmentsToday: 6, attemptsToday: 3 });
    expect(sim.log()).toHaveLength(3);
    const rows = await store.db.query<{ status: string; n: number }>(
      "select status, count(*)::int as n from smsq.messages group by status order by status",
    );
    expect(rows).toEqual([
      { status: "queued", n: 2 },
      { status: "sent", n: 3 },
    ]);
  });

  it("shows each account's circuit, usage and place in the route, without secrets", async () => {
    await openCircuit(store.db, "twilio-backup", "twilio 20003: Authenticate", 30_000, 60_000);
    const api = await startServer(store.db, {
      accountInfo: [
        { name: "twilio-main", kind: "twilio", routePosition: 0, dailySegmentBudget: 1000 },
        { name: "twilio-backup", kind: "twilio", routePosition: 1, dailySegmentBudget: null },
      ],
    });
    try {
      const res = await fetch(`${api.base}/v1/accounts`, {
        headers: { authorization: "Bearer test-key-a" },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { data: Record<string, unknown>[] };
      expect(body.data).toMatchObject([
        {
          name: "twilio-main",
          circuit: "closed",
          routePosition: 0,
          segmentsToday: 0,
          dailySegmentBudget: 1000,
        },
        {
          name: "twilio-backup",
          circuit: "open",
          circuitReason: "twilio 20003: Authenticate",
          routePosition: 1,
        },
      ]);
      expect(body.data[1]?.nextProbeAt).toEqual(expect.any(String));
      expect((await fetch(`${api.base}/v1/accounts`)).status).toBe(401);
    } finally {
      await api.close();
    }
  });
});
