/** GET /v1/stats over real HTTP: auth, the window parameter, and the answer's parts. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatsBody } from "../../src/api/routes/stats.js";
import { ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import { call, errorOf, phone, startServer, submit, type Api, type ApiError } from "./http.js";

describe.each(ENGINES)("GET /v1/stats (%s)", (engine) => {
  let store: TestStore;
  let api: Api;

  beforeAll(async () => {
    store = await openTestStore(engine);
    api = await startServer(store.db, {
      accountInfo: [
        { name: "primary", kind: "twilio", routePosition: 0, dailySegmentBudget: 1000 },
        { name: "backup", kind: "dialpad", routePosition: 1, dailySegmentBudget: null },
      ],
    });
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
  });

  const stats = (query = "", key?: string | null) =>
    call<StatsBody & ApiError>(api, "GET", `/v1/stats${query}`, { key });

  it("needs the API key", async () => {
    const res = await stats("", null);
    expect(res.status).toBe(401);
    expect(errorOf(res).code).toBe("unauthorized");
  });

  it("refuses a bad window or an unknown parameter", async () => {
    for (const w of ["0", "1441", "abc", "1.5", ""]) {
      const res = await stats(`?window=${w}`);
      expect(res.status, w).toBe(400);
      expect(errorOf(res)).toMatchObject({ code: "invalid_request", field: "window" });
    }
    const res = await stats("?since=2026-01-01T00:00:00Z");
    expect(res.status).toBe(400);
    expect(errorOf(res).code).toBe("unknown_field");
  });

  it("answers the queue by lane, outcomes, calls, and each account's health", async () => {
    for (const priority of ["high", "normal", "normal", "low"]) {
      expect((await submit(api, { to: phone(1), body: "hi", priority })).status).toBe(202);
    }
    // One message delivered through `primary` a moment ago.
    const [m] = await store.db.query<{ id: string }>(
      `update smsq.messages set status = 'delivered', attempts = 1, completed_at = now()
       where id = (select min(id) from smsq.messages) returning id`,
    );
    await store.db.query(
      `insert into smsq.attempts (message_id, attempt, provider, account, outcome, started_at,
         finished_at, latency_ms)
       values ($1, 1, 'twilio', 'primary', 'accepted', now(), now(), 42)`,
      [m?.id],
    );

    const res = await stats();
    expect(res.status, res.text).toBe(200);
    const s = res.json;
    expect(s.window).toMatchObject({ minutes: 60, bucketSeconds: 60 });
    expect(s.series).toHaveLength(60);
    expect(s.series.reduce((n, p) => n + p.sent, 0)).toBe(1);
    expect(s.series.reduce((n, p) => n + p.delivered, 0)).toBe(1);
    expect(s.totals).toEqual({ attempts: 1, sent: 1, failed: 0, completed: 1 });
    expect(s.outcomes.delivered).toBe(1);
    expect(s.deliveryRate).toBe(1);
    expect(s.attemptsPerMessage).toBe(1);
    expect(s.retries).toMatchObject({ messages: 0, successRate: null });
    expect(s.queue.lanes.map((l) => [l.lane, l.queued, l.due])).toEqual([
      ["high", 0, 0], // the high one was delivered
      ["normal", 2, 2],
      ["low", 1, 1],
    ]);
    expect(s.queue.lanes[1]?.oldestDueSeconds).toBeGreaterThanOrEqual(0);
    expect(s.accounts).toEqual([
      {
        name: "primary",
        kind: "twilio",
        routePosition: 0,
        circuit: "closed",
        circuitReason: null,
        openedAt: null,
        nextProbeAt: null,
        cooldownUntil: null,
        cooldownReason: null,
        attemptsToday: 0,
        segmentsToday: 0,
        dailySegmentBudget: 1000,
        rate: null,
        senders: [],
        window: { attempts: 1, sent: 1, failed: 0, latencyMs: 42 },
      },
      expect.objectContaining({
        name: "backup",
        circuit: "closed",
        window: { attempts: 0, sent: 0, failed: 0, latencyMs: null },
      }),
    ]);
    expect(Date.parse(s.generatedAt)).not.toBeNaN();
    expect(s.queryMs).toBeGreaterThanOrEqual(0);
  });

  it("takes a window in minutes, split in 60 buckets", async () => {
    const res = await stats("?window=5");
    expect(res.status).toBe(200);
    expect(res.json.window).toMatchObject({ minutes: 5, bucketSeconds: 5 });
    expect(res.json.series).toHaveLength(60);
    const day = await stats("?window=1440");
    expect(day.json.window).toMatchObject({ minutes: 1440, bucketSeconds: 1440 });
  });

  it("is in the OpenAPI document", async () => {
    const res = await call<{ paths: Record<string, unknown> }>(api, "GET", "/openapi.json");
    expect(Object.keys(res.json.paths)).toContain("/v1/stats");
  });
});
