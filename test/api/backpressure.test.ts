// Backpressure: beyond the queue ceilings the API answers 429 with Retry-After and stores
// nothing, globally and per API key.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { countRows, ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import { KEY_A, KEY_B, startServer, type Api } from "./http.js";

describe.each(ENGINES)("backpressure (%s)", (engine) => {
  let store: TestStore;
  let api: Api;
  const post = (key: string, path: string, body: unknown) =>
    fetch(api.base + path, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const msg = (i: number) => ({ to: `+1415555${String(2000 + i)}`, body: `m${i}` });

  beforeAll(async () => {
    store = await openTestStore(engine);
    // cacheMs 0: count on every request, so the test sees the ceiling exactly.
    api = await startServer(store.db, {
      backpressure: { maxQueued: 5, maxQueuedPerKey: 3, cacheMs: 0 },
    });
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
  });
  beforeEach(async () => {
    await store.reset();
  });

  it("refuses a key's submissions past its ceiling with 429 and Retry-After, storing nothing", async () => {
    for (let i = 0; i < 3; i++) {
      expect((await post(KEY_A, "/v1/messages", msg(i))).status).toBe(202);
    }
    const before = await countRows(store.db);
    const r = await post(KEY_A, "/v1/messages", msg(3));
    expect(r.status).toBe(429);
    expect(r.headers.get("retry-after")).toBe("5");
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe("queue_full");
    expect(await countRows(store.db)).toEqual(before);
    // Another key still has room, up to the global ceiling of 5.
    expect((await post(KEY_B, "/v1/messages", msg(10))).status).toBe(202);
    expect((await post(KEY_B, "/v1/messages", msg(11))).status).toBe(202);
    expect((await post(KEY_B, "/v1/messages", msg(12))).status).toBe(429);
  });

  it("refuses a whole batch that would pass the ceiling, and takes one that fits", async () => {
    const big = await post(KEY_A, "/v1/messages/batch", { messages: [0, 1, 2, 3].map(msg) });
    expect(big.status).toBe(429);
    expect((await countRows(store.db)).messages).toBe(0);
    const fits = await post(KEY_A, "/v1/messages/batch", { messages: [0, 1, 2].map(msg) });
    expect(fits.status).toBe(200);
    expect((await countRows(store.db)).messages).toBe(3);
  });

  it("counts only waiting messages: sent ones free the room", async () => {
    for (let i = 0; i < 3; i++) await post(KEY_A, "/v1/messages", msg(i));
    await store.db.query("update smsq.messages set status = 'sent'");
    expect((await post(KEY_A, "/v1/messages", msg(5))).status).toBe(202);
  });
});
