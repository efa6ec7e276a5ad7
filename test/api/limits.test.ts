// GET /v1/accounts and GET /v1/limits show each bucket's configured and learned rate.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildPlan } from "../../src/limits/plan.js";
import { applyLimitSignals } from "../../src/store/limit-signals.js";
import { syncBuckets } from "../../src/store/limits.js";
import { openTestStore, type TestStore } from "../helpers/db.js";
import { call, startServer, type Api } from "./http.js";

interface Bucket {
  key: string;
  sender: string | null;
  configured: number | null;
  learned: number | null;
  limitedTotal: number;
}

describe("rates in the API", () => {
  let store: TestStore;
  let api: Api;
  beforeAll(async () => {
    store = await openTestStore("pglite");
    api = await startServer(store.db, {
      accountInfo: [{ name: "dp", kind: "dialpad", routePosition: 0, dailySegmentBudget: null }],
    });
    const plan = buildPlan(
      [
        {
          name: "dp",
          ceiling: 100 / 60,
          maxInFlight: null,
          senders: [{ from: "+14155550100", ceiling: null }],
          senderRate: () => null,
          sticky: false,
        },
      ],
      null,
    );
    await syncBuckets(store.db, plan.specs);
    await applyLimitSignals(store.db, [
      { key: "account:dp", startedAt: new Date(), retryAfterMs: 1000 },
    ]);
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
  });

  it("shows the account's configured and learned rate, and its senders", async () => {
    const res = await call<{ data: { name: string; rate: Bucket | null; senders: Bucket[] }[] }>(
      api,
      "GET",
      "/v1/accounts",
    );
    expect(res.status).toBe(200);
    const dp = res.json.data[0];
    expect(dp?.rate?.configured).toBeCloseTo(100 / 60);
    expect(dp?.rate?.learned).toBeCloseTo((100 / 60) * 0.7);
    expect(dp?.rate?.limitedTotal).toBe(1);
    expect(dp?.senders.map((s) => s.sender)).toEqual(["+14155550100"]);
  });

  it("lists every bucket at /v1/limits, behind the API key", async () => {
    const res = await call<{ data: (Bucket & { account: string })[] }>(api, "GET", "/v1/limits");
    expect(res.json.data.map((b) => b.key).sort()).toEqual([
      "account:dp",
      "sender:dp:+14155550100",
    ]);
    expect((await call(api, "GET", "/v1/limits", { key: null })).status).toBe(401);
  });
});
