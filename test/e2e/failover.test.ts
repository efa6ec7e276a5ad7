// Failover along a route of two Twilio accounts, each on its own simulator: when the first
// account's circuit opens (an auth failure) its messages go to the second and are delivered
// there; messages that keep being rate limited on the first move on after the set patience.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Dispatcher } from "../../src/dispatch/dispatcher.js";
import { createTwilio } from "../../src/providers/twilio.js";
import {
  DEFAULT_TWILIO_ACCOUNT,
  startSimulator,
  type Simulator,
} from "../../src/simulator/index.js";
import { getAccountState } from "../../src/store/accounts.js";
import { ENGINES, openTestStore, waitFor, type TestStore } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";
import { FAST_BACKOFF } from "../helpers/providers.js";
import { seed } from "../helpers/seed.js";

describe.each(ENGINES)("failover routes (%s)", (engine) => {
  let store: TestStore;
  let main: Simulator;
  let backup: Simulator;
  let d: Dispatcher | null = null;

  const account = (name: string, sim: Simulator) =>
    createTwilio({
      account: name,
      accountSid: DEFAULT_TWILIO_ACCOUNT.sid,
      auth: { username: DEFAULT_TWILIO_ACCOUNT.sid, password: DEFAULT_TWILIO_ACCOUNT.authToken },
      from: "+14155550000",
      baseUrl: sim.url,
      timeoutMs: 1000,
    });
  const start = (concurrency: number, destinations?: Record<string, string[]>) => {
    d = new Dispatcher({
      db: store.db,
      log: silentLog,
      route: [account("twilio-main", main), account("twilio-backup", backup)],
      workerId: "failover-test",
      settings: {
        batchSize: 10,
        concurrency,
        pollMs: 10,
        leaseMs: 60_000,
        sendTimeoutMs: 1000,
        housekeepingMs: 20,
        retry: {
          maxAttempts: 3,
          backoff: FAST_BACKOFF,
        },
        breaker: { probeMs: 60_000, maxProbeMs: 60_000, minSamples: 1000 },
        failoverAfter: 2,
        destinations,
      },
    });
    d.start();
  };
  const sentVia = async () =>
    Object.fromEntries(
      (
        await store.db.query<{ account: string; n: number }>(
          "select account, count(*)::int as n from smsq.messages where status = 'sent' group by account",
        )
      ).map((r) => [r.account, r.n]),
    );

  beforeAll(async () => {
    store = await openTestStore(engine);
    main = await startSimulator({ port: 0 });
    backup = await startSimulator({ port: 0 });
  });
  afterAll(async () => {
    await main.close();
    await backup.close();
    await store.close();
  });
  afterEach(async () => {
    await d?.stop();
    d = null;
    await store.reset();
    main.reset();
    backup.reset();
    main.configure({ rate429: 0, rules: [] });
  });

  it("sends through the backup while the main account's circuit is open", async () => {
    main.configure({ rules: [{ toPattern: ".*", at: "create", code: 20003, status: 401 }] });
    await seed(store.db, 30);
    start(1);
    await waitFor(
      async () => ((await sentVia())["twilio-backup"] === 30 ? true : undefined),
      20_000,
    );
    // One call found the main account broken; nothing else went there.
    expect(main.log()).toHaveLength(1);
    expect(backup.log().filter((e) => e.outcome === "created")).toHaveLength(30);
    expect((await getAccountState(store.db, "twilio-main")).circuit).toBe("open");
    const failed = await store.db.query("select id from smsq.messages where status <> 'sent'");
    expect(failed).toEqual([]);
  });

  it("moves a message on after two transient failures on the main account", async () => {
    // 408 Request Timeout: transient, and (unlike a rate limit) no cooldown that would move it
    // on sooner.
    main.configure({ rules: [{ toPattern: ".*", at: "create", code: 408, status: 408 }] });
    const [id] = await seed(store.db, 1);
    start(1);
    await waitFor(
      async () => ((await sentVia())["twilio-backup"] === 1 ? true : undefined),
      20_000,
    );
    expect(main.log()).toHaveLength(2);
    const att = await store.db.query<{ account: string; outcome: string }>(
      "select account, outcome from smsq.attempts where message_id = $1 order by id",
      [id],
    );
    expect(att).toEqual([
      { account: "twilio-main", outcome: "failed" },
      { account: "twilio-main", outcome: "failed" },
      { account: "twilio-backup", outcome: "accepted" },
    ]);
  });

  it("sends each message through the first account that can reach its destination", async () => {
    await seed(store.db, 3); // +1 415… numbers
    const [uk] = await seed(store.db, 1, { to: "+447400123456" });
    start(10, { "twilio-main": ["+44"] });
    await waitFor(async () => {
      const v = await sentVia();
      return v["twilio-main"] === 1 && v["twilio-backup"] === 3 ? true : undefined;
    });
    const m = await store.db.query<{ account: string }>(
      "select account from smsq.messages where id = $1",
      [uk],
    );
    expect(m[0]?.account).toBe("twilio-main");
    expect(main.log().map((e) => e.to)).toEqual(["+447400123456"]);
  });

  it("leaves a message no usable account can reach waiting", async () => {
    await seed(store.db, 2);
    d = new Dispatcher({
      db: store.db,
      log: silentLog,
      route: [account("twilio-main", main)],
      workerId: "failover-test",
      settings: {
        batchSize: 10,
        concurrency: 10,
        pollMs: 10,
        leaseMs: 60_000,
        sendTimeoutMs: 1000,
        housekeepingMs: 20,
        retry: { maxAttempts: 3 },
        destinations: { "twilio-main": ["+44"] },
      },
    });
    d.start();
    const rounds = d.stats.rounds;
    await waitFor(() => (d!.stats.rounds >= rounds + 5 ? true : undefined));
    expect(d.stats.claimed).toBe(0);
    expect(main.log()).toHaveLength(0);
  });
});
