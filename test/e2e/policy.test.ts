// The delivery policy against the provider simulator, with the real Twilio adapter: faults are
// retried by class, ambiguous attempts are reconciled (never sent twice), permanent failures are
// not retried, and an account failure opens the circuit until a probe gets through.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Dispatcher, type DispatcherSettings } from "../../src/dispatch/dispatcher.js";
import { AlertSink } from "../../src/policy/alerts.js";
import { createTwilio } from "../../src/providers/twilio.js";
import { getAccountState } from "../../src/store/accounts.js";
import {
  DEFAULT_TWILIO_ACCOUNT,
  startSimulator,
  type Simulator,
} from "../../src/simulator/index.js";
import { ENGINES, openTestStore, waitFor, type TestStore } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";
import { seed } from "../helpers/seed.js";
import { startServer, type Api } from "../api/http.js";

const N = Number(process.env.SMSQ_TEST_FAULT_MESSAGES ?? 1000);
const FAST = { baseMs: 5, capMs: 50 };

function settings(over: Partial<DispatcherSettings> = {}): DispatcherSettings {
  return {
    batchSize: 50,
    concurrency: 100,
    pollMs: 10,
    leaseMs: 60_000,
    // Long enough that an event loop stalled by PGlite (the simulator runs in this process)
    // does not add timeouts of its own to the injected faults being measured.
    sendTimeoutMs: 1500,
    housekeepingMs: 20,
    retry: {
      maxAttempts: 5,
      backoff: { transient: FAST, ambiguous: FAST, rate_limited: FAST, account: FAST },
      // Short, but not zero: asking the simulator before a stalled request is processed is
      // exactly the duplicate the settle time prevents.
      settleMs: 5000,
    },
    breaker: { probeMs: 100, maxProbeMs: 400, minSamples: 1000 },
    ...over,
  };
}

describe.each(ENGINES)("delivery policy against the simulator (%s)", (engine) => {
  let store: TestStore;
  let sim: Simulator;
  let d: Dispatcher | null = null;
  // smsq's webhook endpoint, so the simulator's signed status callbacks drive messages to
  // `delivered` exactly as in production.
  let api: Api;

  const twilio = () =>
    createTwilio({
      account: "twilio-main",
      accountSid: DEFAULT_TWILIO_ACCOUNT.sid,
      auth: { username: DEFAULT_TWILIO_ACCOUNT.sid, password: DEFAULT_TWILIO_ACCOUNT.authToken },
      from: "+14155550000",
      baseUrl: sim.url,
      timeoutMs: 1500,
      statusCallbackUrl: `${api.base}/v1/webhooks/twilio/status`,
    });
  const run = (over: Partial<DispatcherSettings> = {}, alerts?: AlertSink) => {
    d = new Dispatcher({
      db: store.db,
      log: silentLog,
      provider: twilio(),
      workerId: "policy-test",
      settings: settings(over),
      alerts,
    });
    d.start();
    return d;
  };
  const counts = async () =>
    Object.fromEntries(
      (
        await store.db.query<{ status: string; n: number }>(
          "select status, count(*)::int as n from smsq.messages group by status",
        )
      ).map((r) => [r.status, r.n]),
    );

  const sentOrDelivered = (c: Record<string, number>) => (c.sent ?? 0) + (c.delivered ?? 0);
  // Each test's bodies carry a tag of their own: a request of an earlier test that the
  // simulator only gets to after its reset (the event loop stalls under PGlite) must not be
  // mistaken for one of this test's.
  let tag = "";
  const seedTagged = async (n: number) => {
    tag = `t${Math.random().toString(36).slice(2, 8)}`;
    const ids = await seed(store.db, n);
    await store.db.query("update smsq.messages set body = $1 || ' ' || body", [tag]);
    return ids;
  };
  const log = () => sim.log().filter((e) => e.body.startsWith(`${tag} `));

  beforeAll(async () => {
    store = await openTestStore(engine);
    sim = await startSimulator({ port: 0 });
    api = await startServer(store.db, {
      accounts: [
        {
          kind: "twilio",
          name: "twilio-main",
          accountSid: DEFAULT_TWILIO_ACCOUNT.sid,
          authToken: DEFAULT_TWILIO_ACCOUNT.authToken,
          apiKeySid: null,
          apiKeySecret: null,
          from: "+14155550000",
          messagingServiceSid: null,
          senders: [],
          baseUrl: sim.url,
        },
      ],
    });
  });
  afterAll(async () => {
    await api.close();
    await sim.close();
    await store.close();
  });
  afterEach(async () => {
    await d?.stop();
    d = null;
    await sim.drainCallbacks();
    await store.reset();
    sim.reset();
    sim.configure({ rate5xx: 0, rateTimeout: 0, rateDrop: 0, rate429: 0, rules: [] });
  });

  // Total fault rate → the most provider calls per sent message allowed (issue targets).
  it.each([
    [0.2, 1.5],
    [0.05, 1.05],
  ])(
    `sends each of ${N} messages exactly once through %s injected faults (under %s calls each), never retrying a permanent one`,
    { timeout: 120_000 },
    async (rate, maxCalls) => {
      sim.configure({
        rate5xx: rate / 4,
        rateTimeout: rate / 4,
        rateDrop: rate / 4,
        rate429: rate / 4,
        // Recipients ending in 13 are invalid numbers at the provider.
        rules: [{ toPattern: "13$", at: "create", code: 21211 }],
      });
      const ids = await seedTagged(N);
      run();
      await waitFor(
        async () => {
          const c = await counts();
          return (c.delivered ?? 0) + (c.failed ?? 0) === N ? c : undefined;
        },
        100_000,
        "every message delivered or failed",
      );
      const rows = await store.db.query<{
        id: string;
        to_number: string;
        status: string;
        body: string;
        last_error_code: string | null;
      }>("select id, to_number, status, body, last_error_code from smsq.messages");
      const created = new Map<string, number>();
      for (const e of log()) {
        if (e.outcome === "created") created.set(e.body, (created.get(e.body) ?? 0) + 1);
      }
      // No message was created twice at the provider.
      expect([...created.values()].filter((n) => n > 1)).toEqual([]);
      for (const r of rows) {
        if (r.to_number.endsWith("13")) {
          expect(r.status).toBe("failed");
          expect(r.last_error_code).toBe("21211");
        } else {
          // Everything the simulator would accept was sent, and exactly once.
          expect(r.status, r.id).toBe("delivered");
          expect(created.get(r.body), r.id).toBe(1);
        }
      }
      // A permanent failure was never retried: no attempt follows one classed permanent.
      const after = await store.db.query<{ n: number }>(
        `select count(*)::int as n from smsq.attempts a
         where exists (select 1 from smsq.attempts p
                       where p.message_id = a.message_id and p.id < a.id
                         and p.error_class in ('recipient_permanent', 'content_permanent'))`,
      );
      expect(after[0]?.n).toBe(0);
      const sends = await store.db.query<{ calls: number; sent: number }>(
        // Per delivered message, as the target is stated: the calls of messages that failed
        // permanently (the 21211 recipients) are not part of it.
        `select (select count(*)::int from smsq.attempts a join smsq.messages m on m.id = a.message_id
                 where m.status = 'delivered' and a.outcome in ('accepted', 'failed')
                   and a.error_code is distinct from 'lookup_failed') as calls,
              (select count(*)::int from smsq.messages where status = 'delivered') as sent`,
      );
      const avg = (sends[0]?.calls ?? 0) / (sends[0]?.sent ?? 1);
      console.log(
        `${rate * 100} % faults, ${N} messages (${engine}): ${avg.toFixed(3)} provider calls per sent message, ${d?.stats.reconciled ?? 0} reconciled`,
      );
      expect(avg).toBeLessThan(maxCalls);
      expect(ids).toHaveLength(N);
    },
  );

  it(
    "opens the circuit on an auth failure after one attempt, waits, probes, and closes",
    { timeout: 60_000 },
    async () => {
      sim.configure({ rules: [{ toPattern: ".*", at: "create", code: 20003, status: 401 }] });
      await seedTagged(20);
      const alerts = new AlertSink(silentLog);
      const dispatcher = run(
        // One call in flight at a time: calls already in flight when the failure arrives cannot
        // be recalled, so with more concurrency up to that many may reach the provider.
        {
          batchSize: 1,
          concurrency: 1,
          breaker: { probeMs: 300, maxProbeMs: 300, minSamples: 1000 },
        },
        alerts,
      );
      await waitFor(async () =>
        (await getAccountState(store.db, "twilio-main")).circuit === "open" ? true : undefined,
      );
      // One request reached the provider; the rest wait (queued, not failed).
      const before = log().length;
      expect(before).toBe(1);
      expect(alerts.active().map((a) => a.key)).toEqual(["circuit:twilio-main"]);
      // A failed probe re-opens it: still one request at a time.
      await waitFor(() => (log().length >= 2 ? true : undefined), 10_000, "a probe");
      // No request between probes: they are at least the probe interval apart.
      const at = log().map((e) => e.at);
      for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(250);
      const c = await counts();
      expect(c.failed ?? 0).toBe(0);
      // The credentials are fixed: the next probe succeeds, the circuit closes, all get through.
      sim.configure({ rules: [] });
      await waitFor(
        async () => (sentOrDelivered(await counts()) === 20 ? true : undefined),
        20_000,
        "all sent",
      );
      expect((await getAccountState(store.db, "twilio-main")).circuit).toBe("closed");
      expect(alerts.sent.map((a) => a.state)).toEqual(["raised", "resolved"]);
      expect(dispatcher.stats.byClass.account).toBeGreaterThanOrEqual(2);
    },
  );

  it(
    "does not spend the attempt budget on rate limits, and cools the account down",
    { timeout: 60_000 },
    async () => {
      sim.configure({ rate429: 1 });
      const [id] = await seedTagged(1);
      run({
        retry: {
          maxAttempts: 2,
          backoff: {
            transient: FAST,
            ambiguous: FAST,
            rate_limited: { baseMs: 20, capMs: 40 },
            account: FAST,
          },
        },
      });
      await waitFor(
        () => (log().length >= 4 ? true : undefined),
        10_000,
        "several rate-limited tries",
      );
      sim.configure({ rate429: 0 });
      await waitFor(async () => (sentOrDelivered(await counts()) === 1 ? true : undefined), 10_000);
      const m = await store.db.query<{ attempts: number; free_attempts: number }>(
        "select attempts, free_attempts from smsq.messages where id = $1",
        [id],
      );
      // More calls than the budget of 2, all but the last free.
      expect(m[0]!.attempts).toBeGreaterThan(2);
      expect(m[0]!.free_attempts).toBe(m[0]!.attempts - 1);
      const st = await getAccountState(store.db, "twilio-main");
      expect(st.cooldownUntil).not.toBeNull();
    },
  );
});
