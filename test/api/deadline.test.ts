// Deadlines under a rate limit: a message whose validUntil the backlog would miss is refused at
// submit (nothing stored), or accepted and flagged when asked; every message shows its estimate.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildPlan } from "../../src/limits/plan.js";
import type { Message } from "../../src/messages/schemas.js";
import { syncBuckets } from "../../src/store/limits.js";
import { countRows, ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import { seed } from "../helpers/seed.js";
import { call, startServer, type Api, type ApiError } from "./http.js";

describe.each(ENGINES)("deadlines on %s", (engine) => {
  let store: TestStore;
  let api: Api;
  beforeAll(async () => {
    store = await openTestStore(engine);
    api = await startServer(store.db, { deadlines: { account: "main", cacheMs: 0 } });
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
  });
  beforeEach(async () => {
    await store.reset();
    // One sender at 2 segments per second, and 100 one-segment messages queued ahead.
    const plan = buildPlan(
      [
        {
          name: "main",
          ceiling: null,
          maxInFlight: null,
          senders: [{ from: "+14155550100", ceiling: 2 }],
          senderRate: () => 2,
          sticky: false,
        },
      ],
      null,
    );
    await syncBuckets(store.db, plan.specs);
    await seed(store.db, 100);
  });

  const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();

  it("refuses a validUntil the backlog would miss, storing nothing", async () => {
    const before = await countRows(store.db);
    const res = await call<ApiError>(api, "POST", "/v1/messages", {
      json: { to: "+14155552671", body: "code 1", validUntil: inSeconds(20) },
    });
    expect(res.status).toBe(422);
    expect(res.json.error.code).toBe("deadline_unmeetable");
    expect(res.json.error.field).toBe("validUntil");
    expect(await countRows(store.db)).toEqual(before);
  });

  it("accepts it flagged when asked, and shows the estimate on every message", async () => {
    const t = Date.now();
    const risky = await call<Message>(api, "POST", "/v1/messages", {
      json: { to: "+14155552671", body: "code 2", validUntil: inSeconds(20), onDeadline: "accept" },
    });
    expect(risky.status).toBe(202);
    expect(risky.json.deadlineAtRisk).toBe(true);
    // 101 segments at 2/s: about 50 s from now.
    const eta = Date.parse(risky.json.estimatedSendAt as string) - t;
    expect(eta).toBeGreaterThan(45_000);
    expect(eta).toBeLessThan(56_000);
    const fine = await call<Message>(api, "POST", "/v1/messages", {
      json: { to: "+14155552672", body: "code 3", validUntil: inSeconds(3600) },
    });
    expect(fine.status).toBe(202);
    expect(fine.json.deadlineAtRisk).toBe(false);
    const got = await call<Message>(api, "GET", `/v1/messages/${fine.json.id}`);
    expect(got.json.estimatedSendAt).toBe(fine.json.estimatedSendAt);
  });

  it("counts only the lanes ahead: a high-priority message skips the normal backlog", async () => {
    const res = await call<Message>(api, "POST", "/v1/messages", {
      json: { to: "+14155552671", body: "code 4", priority: "high", validUntil: inSeconds(20) },
    });
    expect(res.status).toBe(202);
    expect(Date.parse(res.json.estimatedSendAt as string) - Date.now()).toBeLessThan(2000);
  });

  it("refuses one batch item on its own", async () => {
    const res = await call<{ data: (Message | ApiError)[]; created: number }>(
      api,
      "POST",
      "/v1/messages/batch",
      {
        json: {
          messages: [
            { to: "+14155552671", body: "a", validUntil: inSeconds(10) },
            { to: "+14155552672", body: "b" },
          ],
        },
      },
    );
    expect(res.status).toBe(200);
    expect((res.json.data[0] as ApiError).error.code).toBe("deadline_unmeetable");
    expect((res.json.data[0] as ApiError).error.field).toBe("messages[0].validUntil");
    expect((res.json.data[1] as Message).status).toBe("queued");
    expect(res.json.created).toBe(1);
  });
});
