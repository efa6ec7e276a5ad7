// Dialpad answers 403 both when it throttles (the seed incident: "random 403s" at 700/min) and
// when a permission is missing. smsq treats a 403 as a rate limit (cool down, no budget spent)
// and only a 403 that persists through several cooldowns as an account failure.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dispatcher } from "../../src/dispatch/dispatcher.js";
import { createDialpad } from "../../src/providers/dialpad.js";
import {
  DEFAULT_DIALPAD_ACCOUNT,
  startSimulator,
  type Simulator,
} from "../../src/simulator/index.js";
import { getAccountState } from "../../src/store/accounts.js";
import { openTestStore, waitFor, type TestStore } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";
import { FAST_BACKOFF } from "../helpers/providers.js";
import { seed } from "../helpers/seed.js";

describe("persistent Dialpad 403s", () => {
  let store: TestStore;
  let sim: Simulator;
  beforeAll(async () => {
    store = await openTestStore("pglite");
    sim = await startSimulator({ port: 0 });
  });
  afterAll(async () => {
    await sim.close();
    await store.close();
  });

  it("cool down first, then open the circuit as an account failure; nothing fails", async () => {
    sim.configure({ rules: [{ toPattern: ".*", at: "create", code: 403, status: 403 }] });
    await seed(store.db, 5);
    const d = new Dispatcher({
      db: store.db,
      log: silentLog,
      provider: createDialpad({
        account: "dialpad",
        apiToken: DEFAULT_DIALPAD_ACCOUNT.apiToken,
        from: "+14155550000",
        baseUrl: sim.url,
      }),
      workerId: "dialpad-403",
      settings: {
        batchSize: 1,
        concurrency: 1,
        pollMs: 10,
        leaseMs: 60_000,
        sendTimeoutMs: 1000,
        housekeepingMs: 20,
        retry: {
          maxAttempts: 2,
          backoff: FAST_BACKOFF,
        },
        breaker: {
          persistentForbidden: 3,
          forbiddenGapMs: 0,
          probeMs: 60_000,
          maxProbeMs: 60_000,
          minSamples: 1000,
        },
      },
    });
    d.start();
    try {
      const st = await waitFor(async () => {
        const s = await getAccountState(store.db, "dialpad");
        return s.circuit === "open" ? s : undefined;
      });
      expect(st.circuitReason).toMatch(/403 persisted through 3 cooldowns/);
      expect(sim.log()).toHaveLength(3);
      // Rate limits spent no budget (2): nothing failed, everything waits.
      const failed = await store.db.query("select id from smsq.messages where status = 'failed'");
      expect(failed).toEqual([]);
      expect(st.cooldownUntil).not.toBeNull();
    } finally {
      await d.stop();
    }
  });
});
