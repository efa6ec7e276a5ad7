/** POST /v1/messages over real HTTP: acceptance, normalisation, scheduling, idempotency. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { countRows, ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import {
  call,
  DAY,
  fromNow,
  getOne,
  HOUR,
  KEY_B,
  phone,
  startServer,
  submit,
  errorOf,
  type Api,
} from "./http.js";

const ID = /^msg_[0-9A-HJKMNP-TV-Z]{26}$/;

describe.each(ENGINES)("POST /v1/messages (%s)", (engine) => {
  let store: TestStore;
  let api: Api;

  beforeAll(async () => {
    store = await openTestStore(engine);
    api = await startServer(store.db);
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
  });
  beforeEach(async () => {
    await store.reset();
  });

  it("accepts a message: 202 with id, E.164 number, queued, segments, encoding, createdAt", async () => {
    const before = Date.now();
    const res = await submit(api, { to: "(415) 555-0100", body: "Your code is 123456" });
    expect(res.status).toBe(202);
    const m = res.json;
    expect(m.id).toMatch(ID);
    expect(m.to).toBe("+14155550100");
    expect(m.status).toBe("queued");
    expect(m.segments).toBe(1);
    expect(m.encoding).toBe("GSM-7");
    expect(m.priority).toBe("normal");
    expect(m.from).toBeNull();
    expect(m.sendAt).toBeNull();
    expect(m.metadata).toBeNull();
    expect(m.attemptCount).toBe(0);
    expect(m.retrying).toBe(false);
    const created = Date.parse(m.createdAt);
    expect(new Date(created).toISOString()).toBe(m.createdAt);
    expect(created).toBeGreaterThanOrEqual(before - 2000);
    expect(created).toBeLessThanOrEqual(Date.now() + 2000);
    expect(await countRows(store.db)).toMatchObject({ messages: 1, message_events: 1 });
  });

  it("counts segments and picks the encoding", async () => {
    const twoGsm = await submit(api, { to: phone(1), body: "a".repeat(161) });
    expect(twoGsm.status).toBe(202);
    expect(twoGsm.json).toMatchObject({ segments: 2, encoding: "GSM-7" });

    const ucs = await submit(api, { to: phone(2), body: "Привет 😀" });
    expect(ucs.status).toBe(202);
    expect(ucs.json).toMatchObject({ segments: 1, encoding: "UCS-2", body: "Привет 😀" });

    // The configured maximum (10 segments of 153 septets) is accepted exactly.
    const max = await submit(api, { to: phone(3), body: "b".repeat(1530) });
    expect(max.status).toBe(202);
    expect(max.json.segments).toBe(10);
  });

  it("keeps the optional fields as given", async () => {
    const validUntil = fromNow(DAY);
    const res = await submit(api, {
      to: "+44 20 7946 0958",
      body: "hello",
      from: "Acme",
      priority: "high",
      validUntil,
      metadata: { orderId: 42, tags: ["a", "b"], nested: { ok: true } },
    });
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({
      to: "+442079460958",
      from: "Acme",
      priority: "high",
      status: "queued",
      validUntil,
      metadata: { orderId: 42, tags: ["a", "b"], nested: { ok: true } },
    });
  });

  it("schedules a message whose sendAt is in the future", async () => {
    const sendAt = fromNow(2 * HOUR);
    const res = await submit(api, { to: phone(0), body: "later", sendAt });
    expect(res.status).toBe(202);
    expect(res.json.status).toBe("scheduled");
    expect(res.json.sendAt).toBe(sendAt);
    expect(res.json.nextAttemptAt).toBe(sendAt);
  });

  it("queues a message whose sendAt has passed", async () => {
    const sendAt = fromNow(-HOUR);
    const res = await submit(api, { to: phone(0), body: "late", sendAt });
    expect(res.status).toBe(202);
    expect(res.json.status).toBe("queued");
    expect(res.json.sendAt).toBe(sendAt);
  });

  it("GET /v1/messages/:id returns it with no attempts and one created event", async () => {
    const created = await submit(api, { to: phone(0), body: "read me" });
    expect(created.status).toBe(202);
    const res = await getOne(api, created.json.id);
    expect(res.status).toBe(200);
    const { attempts, events, ...message } = res.json;
    expect(message).toEqual(created.json);
    expect(attempts).toEqual([]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: "created",
      fromStatus: null,
      toStatus: "queued",
      source: "api",
    });

    const scheduled = await submit(api, { to: phone(1), body: "soon", sendAt: fromNow(HOUR) });
    const detail = await getOne(api, scheduled.json.id);
    expect(detail.json.events.map((e) => [e.type, e.toStatus])).toEqual([["created", "scheduled"]]);
  });

  describe("Idempotency-Key", () => {
    const payload = { to: phone(0), body: "once only", metadata: { a: 1, b: 2 } };

    it("replays the same key and payload: 200 with the same message, one row", async () => {
      const first = await submit(api, payload, { headers: { "idempotency-key": "order-1" } });
      expect(first.status).toBe(202);
      const again = await submit(api, payload, { headers: { "idempotency-key": "order-1" } });
      expect(again.status).toBe(200);
      expect(again.json).toEqual(first.json);
      // Key order in the JSON does not make it a different payload.
      const reordered = await submit(
        api,
        { metadata: { b: 2, a: 1 }, body: payload.body, to: payload.to },
        { headers: { "idempotency-key": "order-1" } },
      );
      expect(reordered.status).toBe(200);
      expect(reordered.json.id).toBe(first.json.id);
      expect(await countRows(store.db)).toMatchObject({
        messages: 1,
        message_events: 1,
        idempotency_keys: 1,
      });
    });

    it("replays a scheduled message as scheduled", async () => {
      const input = { to: phone(0), body: "later", sendAt: fromNow(HOUR) };
      const first = await submit(api, input, { headers: { "idempotency-key": "s-1" } });
      const again = await submit(api, input, { headers: { "idempotency-key": "s-1" } });
      expect([first.status, again.status]).toEqual([202, 200]);
      expect(again.json).toMatchObject({ id: first.json.id, status: "scheduled" });
    });

    it("refuses the same key with a different payload: 409 idempotency_conflict", async () => {
      const first = await submit(api, payload, { headers: { "idempotency-key": "order-2" } });
      expect(first.status).toBe(202);
      const before = await countRows(store.db);
      for (const changed of [
        { ...payload, body: "something else" },
        { ...payload, to: phone(1) },
        { ...payload, metadata: { a: 1 } },
        { ...payload, priority: "low" },
      ]) {
        const res = await submit(api, changed, { headers: { "idempotency-key": "order-2" } });
        expect(res.status).toBe(409);
        expect(errorOf(res)).toMatchObject({
          code: "idempotency_conflict",
          field: "Idempotency-Key",
        });
      }
      expect(await countRows(store.db)).toEqual(before);
      // The original is still what the key stands for.
      const replay = await submit(api, payload, { headers: { "idempotency-key": "order-2" } });
      expect(replay.status).toBe(200);
      expect(replay.json.id).toBe(first.json.id);
    });

    it("scopes keys per API key", async () => {
      const a = await submit(api, payload, { headers: { "idempotency-key": "shared" } });
      const b = await submit(api, payload, {
        key: KEY_B,
        headers: { "idempotency-key": "shared" },
      });
      expect(a.status).toBe(202);
      expect(b.status).toBe(202);
      expect(b.json.id).not.toBe(a.json.id);
      expect(await countRows(store.db)).toMatchObject({ messages: 2, idempotency_keys: 2 });
      // Each key replays its own message.
      const a2 = await submit(api, payload, { headers: { "idempotency-key": "shared" } });
      const b2 = await submit(api, payload, {
        key: KEY_B,
        headers: { "idempotency-key": "shared" },
      });
      expect([a2.status, a2.json.id]).toEqual([200, a.json.id]);
      expect([b2.status, b2.json.id]).toEqual([200, b.json.id]);
    });

    it("stores without a key every time", async () => {
      const a = await submit(api, payload);
      const b = await submit(api, payload);
      expect([a.status, b.status]).toEqual([202, 202]);
      expect(a.json.id).not.toBe(b.json.id);
      expect((await countRows(store.db)).messages).toBe(2);
    });

    it("stores exactly one message for 10 concurrent requests with one key", async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, () =>
          submit(api, payload, { headers: { "idempotency-key": "race" } }),
        ),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 202]);
      const ids = new Set(results.map((r) => r.json.id));
      expect(ids.size).toBe(1);
      expect(await countRows(store.db)).toMatchObject({
        messages: 1,
        message_events: 1,
        idempotency_keys: 1,
      });
    });

    it("stores one message per key when concurrent requests use different keys", async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          submit(api, payload, { headers: { "idempotency-key": `k-${i}` } }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(Array(10).fill(202));
      expect(new Set(results.map((r) => r.json.id)).size).toBe(10);
      expect((await countRows(store.db)).messages).toBe(10);
    });

    it("does not store a key for a refused request", async () => {
      const bad = await submit(
        api,
        { to: "12345", body: "x" },
        { headers: { "idempotency-key": "k-bad" } },
      );
      expect(bad.status).toBe(400);
      expect(await countRows(store.db)).toMatchObject({ messages: 0, idempotency_keys: 0 });
      // The key is still free for a valid request.
      const good = await submit(
        api,
        { to: phone(0), body: "x" },
        { headers: { "idempotency-key": "k-bad" } },
      );
      expect(good.status).toBe(202);
    });
  });

  it("answers the list with what was submitted", async () => {
    const a = await submit(api, { to: phone(0), body: "one" });
    const list = await call<{ data: { id: string }[] }>(api, "GET", "/v1/messages");
    expect(list.status).toBe(200);
    expect(list.json.data.map((m) => m.id)).toEqual([a.json.id]);
  });
});
