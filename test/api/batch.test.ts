/** POST /v1/messages/batch over real HTTP: per-item results in order, limits, idempotency. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Message } from "../../src/messages/schemas.js";
import { countRows, ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import {
  call,
  errorOf,
  fromNow,
  HOUR,
  phone,
  startServer,
  submit,
  type Api,
  type ApiError,
  type CallOptions,
  type Res,
} from "./http.js";

type Item = Message | ApiError;
type BatchRes = Res<{ data: Item[]; created: number; replayed: number } & ApiError>;

const isError = (x: Item): x is ApiError => "error" in x;

function itemError(item: Item | undefined): ApiError["error"] {
  if (!item || !isError(item)) {
    throw new Error(`expected an error item, got ${JSON.stringify(item)}`);
  }
  expect(Object.keys(item)).toEqual(["error"]);
  expect(item.error.message.length).toBeGreaterThan(0);
  return item.error;
}

function itemMessage(item: Item | undefined): Message {
  if (!item || isError(item)) throw new Error(`expected a message, got ${JSON.stringify(item)}`);
  return item;
}

describe.each(ENGINES)("POST /v1/messages/batch (%s)", (engine) => {
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

  const batch = (messages: unknown, opts: Omit<CallOptions, "json"> = {}): Promise<BatchRes> =>
    call(api, "POST", "/v1/messages/batch", { ...opts, json: { messages } });

  it("answers each item in input order; refused items carry their field; valid ones are stored", async () => {
    const res = await batch([
      { to: "(415) 555-0100", body: "m0" },
      { to: "12345", body: "m1" },
      { to: phone(2), body: "m2", sendAt: fromNow(HOUR) },
      { to: 14155550103, body: "m3" },
      { body: "m4" },
      { to: phone(5), body: "m5", colour: "red" },
      { to: phone(6), body: "m6", priority: "urgent" },
      { to: phone(7), body: "m7", sendAt: "soon" },
      "not an object",
      { to: phone(9), body: "" },
      { to: phone(10), body: "m10", metadata: [1] },
      { to: phone(11), body: "m11", priority: "low" },
    ]);
    expect(res.status).toBe(200);
    expect(Object.keys(res.json)).toEqual(["data", "created", "replayed"]);
    const { data } = res.json;
    expect(data).toHaveLength(12);

    expect(itemMessage(data[0])).toMatchObject({
      body: "m0",
      to: "+14155550100",
      status: "queued",
    });
    expect(itemMessage(data[2])).toMatchObject({ body: "m2", status: "scheduled" });
    expect(itemMessage(data[11])).toMatchObject({ body: "m11", priority: "low" });

    expect(itemError(data[1])).toMatchObject({ code: "invalid_phone", field: "messages[1].to" });
    expect(itemError(data[3])).toMatchObject({ code: "invalid_request", field: "messages[3].to" });
    expect(itemError(data[4])).toMatchObject({ code: "invalid_request", field: "messages[4].to" });
    expect(itemError(data[5])).toMatchObject({
      code: "unknown_field",
      field: "messages[5].colour",
    });
    expect(itemError(data[6])).toMatchObject({
      code: "invalid_priority",
      field: "messages[6].priority",
    });
    expect(itemError(data[7])).toMatchObject({
      code: "invalid_date",
      field: "messages[7].sendAt",
    });
    expect(itemError(data[8])).toMatchObject({ code: "invalid_request", field: "messages[8]" });
    expect(itemError(data[9])).toMatchObject({ code: "invalid_body", field: "messages[9].body" });
    expect(itemError(data[10])).toMatchObject({
      code: "invalid_metadata",
      field: "messages[10].metadata",
    });

    // Exactly the three valid ones are stored, each as answered.
    expect(await countRows(store.db)).toMatchObject({ messages: 3, message_events: 3 });
    for (const i of [0, 2, 11]) {
      const m = itemMessage(data[i]);
      const got = await call<Message>(api, "GET", `/v1/messages/${m.id}`);
      expect(got.status).toBe(200);
      expect(got.json).toMatchObject(m);
    }
    // Stored in one transaction: PostgreSQL's now() is the transaction's start time.
    const created = new Set([0, 2, 11].map((i) => itemMessage(data[i]).createdAt));
    expect(created.size).toBe(1);
  });

  it("accepts 1000 items and stores them all", async () => {
    const messages = Array.from({ length: 1000 }, (_, i) => ({ to: phone(i), body: `n${i}` }));
    const res = await batch(messages);
    expect(res.status).toBe(200);
    expect(res.json.data).toHaveLength(1000);
    res.json.data.forEach((item, i) => {
      expect(itemMessage(item)).toMatchObject({ body: `n${i}`, to: phone(i), status: "queued" });
    });
    expect(new Set(res.json.data.map((m) => itemMessage(m).id)).size).toBe(1000);
    expect(await countRows(store.db)).toMatchObject({ messages: 1000, message_events: 1000 });
  });

  it("refuses 1001 items whole with 400 and stores nothing", async () => {
    const messages = Array.from({ length: 1001 }, (_, i) => ({ to: phone(i), body: `n${i}` }));
    const before = await countRows(store.db);
    const res = await batch(messages);
    expect(res.status).toBe(400);
    expect(errorOf(res)).toMatchObject({ code: "invalid_request", field: "messages" });
    expect(errorOf(res).message).toContain("1000");
    expect(await countRows(store.db)).toEqual(before);
  });

  it.each([
    ["an empty array", { messages: [] }, "invalid_request", "messages"],
    ["no messages field", {}, "invalid_request", "messages"],
    [
      "messages as an object",
      { messages: { to: phone(0), body: "x" } },
      "invalid_request",
      "messages",
    ],
    ["messages as null", { messages: null }, "invalid_request", "messages"],
    [
      "an unknown top-level field",
      { messages: [{ to: phone(0), body: "x" }], dryRun: true },
      "unknown_field",
      "dryRun",
    ],
    ["a bare array", [{ to: phone(0), body: "x" }], "invalid_request", "body"],
  ])("refuses %s with 400 and stores nothing", async (_name, body, code, field) => {
    const before = await countRows(store.db);
    const res = await call(api, "POST", "/v1/messages/batch", { json: body });
    expect(res.status).toBe(400);
    expect(errorOf(res)).toMatchObject({ code, field });
    expect(await countRows(store.db)).toEqual(before);
  });

  it("refuses malformed JSON and a wrong content type", async () => {
    const bad = await call(api, "POST", "/v1/messages/batch", { raw: '{"messages": [' });
    expect(bad.status).toBe(400);
    expect(errorOf(bad).code).toBe("invalid_json");
    const plain = await call(api, "POST", "/v1/messages/batch", {
      raw: JSON.stringify({ messages: [{ to: phone(0), body: "x" }] }),
      headers: { "content-type": "text/plain" },
    });
    expect(plain.status).toBe(415);
    expect(errorOf(plain).code).toBe("unsupported_media_type");
    expect((await countRows(store.db)).messages).toBe(0);
  });

  it("stores nothing when every item is refused, and still answers 200 per item", async () => {
    const res = await batch([{ to: "1", body: "x" }, { to: phone(1) }]);
    expect(res.status).toBe(200);
    expect(itemError(res.json.data[0]).field).toBe("messages[0].to");
    expect(itemError(res.json.data[1]).field).toBe("messages[1].body");
    expect(await countRows(store.db)).toMatchObject({ messages: 0, message_events: 0 });
  });

  describe("idempotencyKey per item", () => {
    const A = { to: phone(0), body: "A" };
    const B = { to: phone(1), body: "B" };

    it("replays a known key with the same payload and refuses it with another", async () => {
      const first = await batch([
        { ...A, idempotencyKey: "k1" },
        { ...B, idempotencyKey: "k2" },
      ]);
      expect(first.status).toBe(200);
      const a = itemMessage(first.json.data[0]);
      const b = itemMessage(first.json.data[1]);
      expect(await countRows(store.db)).toMatchObject({ messages: 2, idempotency_keys: 2 });

      const second = await batch([
        { ...A, idempotencyKey: "k1" },
        { ...B, body: "B changed", idempotencyKey: "k2" },
        { to: phone(2), body: "C", idempotencyKey: "k3" },
      ]);
      expect(second.status).toBe(200);
      expect(second.json).toMatchObject({ created: 1, replayed: 1 });
      expect(itemMessage(second.json.data[0])).toEqual(a);
      expect(itemError(second.json.data[1])).toMatchObject({
        code: "idempotency_conflict",
        field: "messages[1].idempotencyKey",
      });
      const c = itemMessage(second.json.data[2]);
      expect([a.id, b.id]).not.toContain(c.id);
      expect(await countRows(store.db)).toMatchObject({
        messages: 3,
        message_events: 3,
        idempotency_keys: 3,
      });
      // The conflicting item did not change what k2 stands for.
      const again = await batch([{ ...B, idempotencyKey: "k2" }]);
      expect(itemMessage(again.json.data[0]).id).toBe(b.id);
    });

    it("treats the same key twice in one batch as one message (or a conflict)", async () => {
      const res = await batch([
        { ...A, idempotencyKey: "dup" },
        { ...A, idempotencyKey: "dup" },
        { ...B, idempotencyKey: "dup" },
        { ...B },
      ]);
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ created: 2, replayed: 1 });
      const [m0, m1, e2, m3] = res.json.data;
      expect(itemMessage(m1)).toEqual(itemMessage(m0));
      expect(itemError(e2)).toMatchObject({
        code: "idempotency_conflict",
        field: "messages[2].idempotencyKey",
      });
      expect(itemMessage(m3).id).not.toBe(itemMessage(m0).id);
      expect(await countRows(store.db)).toMatchObject({ messages: 2, idempotency_keys: 1 });
    });

    it("shares keys with the Idempotency-Key header of single submissions", async () => {
      const single = await submit(api, A, { headers: { "idempotency-key": "shared" } });
      expect(single.status).toBe(202);
      const res = await batch([{ ...A, idempotencyKey: "shared" }]);
      expect(itemMessage(res.json.data[0]).id).toBe(single.json.id);
      expect((await countRows(store.db)).messages).toBe(1);
    });

    it("refuses a bad key on its item only", async () => {
      const res = await batch([
        { ...A, idempotencyKey: "" },
        { ...A, idempotencyKey: "k".repeat(256) },
        { ...A, idempotencyKey: 7 },
        { ...A, idempotencyKey: "nul\u0000key" },
        { ...B, idempotencyKey: "fine" },
      ]);
      expect(res.status).toBe(200);
      for (let i = 0; i < 4; i++) {
        expect(itemError(res.json.data[i])).toMatchObject({
          code: "invalid_request",
          field: `messages[${i}].idempotencyKey`,
        });
      }
      expect(itemMessage(res.json.data[4]).body).toBe("B");
      expect(await countRows(store.db)).toMatchObject({ messages: 1, idempotency_keys: 1 });
    });

    it("does not claim the key of a refused item", async () => {
      const res = await batch([{ to: "nope", body: "x", idempotencyKey: "later" }]);
      expect(itemError(res.json.data[0]).code).toBe("invalid_phone");
      expect((await countRows(store.db)).idempotency_keys).toBe(0);
      const ok = await batch([{ ...A, idempotencyKey: "later" }]);
      expect(itemMessage(ok.json.data[0]).body).toBe("A");
    });
  });
});
