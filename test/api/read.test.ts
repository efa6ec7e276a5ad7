/** Reading over real HTTP: list filters and paging, cancel, auth, health, OpenAPI, the page. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Message, MessageDetail } from "../../src/messages/schemas.js";
import { countRows, ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import {
  call,
  errorOf,
  fromNow,
  getOne,
  HOUR,
  KEY_A,
  KEY_B,
  phone,
  startServer,
  submit,
  type Api,
  type ApiError,
} from "./http.js";

interface Page {
  data: Message[];
  nextCursor: string | null;
}

describe.each(ENGINES)("reading messages (%s)", (engine) => {
  let store: TestStore;
  let api: Api;
  let open: Api;
  // The server's clock: message ids (and so `since` and the list order) follow it.
  let clock: number | null = null;

  beforeAll(async () => {
    store = await openTestStore(engine);
    api = await startServer(store.db, {
      now: () => (clock === null ? new Date() : new Date(clock)),
    });
    open = await startServer(store.db, { apiKeys: [] });
  });
  afterAll(async () => {
    await open?.close();
    await api?.close();
    await store?.close();
  });
  beforeEach(async () => {
    clock = null;
    await store.reset();
  });

  /** Submits a message and returns it (asserting 202). */
  async function create(input: Record<string, unknown>): Promise<Message> {
    const res = await submit(api, input);
    expect(res.status, res.text).toBe(202);
    return res.json;
  }

  const list = (query: Record<string, string> = {}) =>
    call<Page & ApiError>(api, "GET", `/v1/messages?${new URLSearchParams(query).toString()}`);

  const ids = (page: Page) => page.data.map((m) => m.id);

  describe("GET /v1/messages", () => {
    it("filters by one status or several, newest first", async () => {
      clock = Date.now() - 10_000;
      const q1 = await create({ to: phone(1), body: "q1" });
      clock += 1000;
      const s1 = await create({ to: phone(2), body: "s1", sendAt: fromNow(HOUR) });
      clock += 1000;
      const q2 = await create({ to: phone(3), body: "q2" });
      clock += 1000;
      const s2 = await create({ to: phone(4), body: "s2", sendAt: fromNow(2 * HOUR) });
      clock += 1000;
      const q3 = await create({ to: phone(5), body: "q3" });
      const canceled = await call(api, "POST", `/v1/messages/${q3.id}/cancel`);
      expect(canceled.status).toBe(200);

      const all = await list();
      expect(all.status).toBe(200);
      expect(ids(all.json)).toEqual([q3.id, s2.id, q2.id, s1.id, q1.id]);
      expect(all.json.nextCursor).toBeNull();

      expect(ids((await list({ status: "queued" })).json)).toEqual([q2.id, q1.id]);
      expect(ids((await list({ status: "scheduled" })).json)).toEqual([s2.id, s1.id]);
      expect(ids((await list({ status: "canceled" })).json)).toEqual([q3.id]);
      expect(ids((await list({ status: "queued,canceled" })).json)).toEqual([q3.id, q2.id, q1.id]);
      expect(ids((await list({ status: "scheduled, canceled" })).json)).toEqual([
        q3.id,
        s2.id,
        s1.id,
      ]);
      expect(ids((await list({ status: "sent" })).json)).toEqual([]);
      for (const m of (await list({ status: "queued,scheduled" })).json.data) {
        expect(["queued", "scheduled"]).toContain(m.status);
      }
    });

    it("filters by recipient, normalising the number given", async () => {
      const a1 = await create({ to: "+14155550100", body: "a1" });
      await create({ to: phone(7), body: "other" });
      const a2 = await create({ to: "415-555-0100", body: "a2" });
      await create({ to: "+442079460958", body: "uk" });

      for (const to of ["+14155550100", "(415) 555-0100", "415.555.0100", " 1 415 555 0100 "]) {
        const res = await list({ to });
        expect(res.status).toBe(200);
        expect(new Set(ids(res.json))).toEqual(new Set([a1.id, a2.id]));
      }
      // An unencoded "+" in a query string is a space; the number is still understood.
      const raw = await call<Page>(api, "GET", "/v1/messages?to=+14155550100");
      expect(new Set(ids(raw.json))).toEqual(new Set([a1.id, a2.id]));

      expect(ids((await list({ to: "+44 20 7946 0958" })).json)).toHaveLength(1);
      expect(ids((await list({ to: "+14155550199" })).json)).toEqual([]);
      // Combined with a status filter.
      await call(api, "POST", `/v1/messages/${a1.id}/cancel`);
      expect(ids((await list({ to: "4155550100", status: "queued" })).json)).toEqual([a2.id]);
    });

    it("filters by since (creation time)", async () => {
      const t0 = Date.now() - 3 * HOUR;
      clock = t0;
      const a = await create({ to: phone(1), body: "a" });
      clock = t0 + HOUR;
      const b = await create({ to: phone(2), body: "b" });
      clock = t0 + 2 * HOUR;
      const c = await create({ to: phone(3), body: "c" });

      const since = (ms: number) => list({ since: new Date(ms).toISOString() });
      expect(ids((await since(t0 - 1)).json)).toEqual([c.id, b.id, a.id]);
      expect(ids((await since(t0)).json)).toEqual([c.id, b.id, a.id]);
      expect(ids((await since(t0 + 1)).json)).toEqual([c.id, b.id]);
      expect(ids((await since(t0 + HOUR)).json)).toEqual([c.id, b.id]);
      expect(ids((await since(t0 + 90 * 60_000)).json)).toEqual([c.id]);
      expect(ids((await since(Date.now() + HOUR)).json)).toEqual([]);

      // The same instant written with another offset.
      const local = new Date(t0 + HOUR + 2 * HOUR).toISOString().replace("Z", "+02:00");
      expect(ids((await list({ since: local })).json)).toEqual([c.id, b.id]);
    });

    it("pages with limit and cursor, every message exactly once, newest first", async () => {
      clock = Date.now() - 60_000;
      const created: string[] = [];
      for (let i = 0; i < 23; i++) {
        clock += 1000;
        const body = { to: phone(i), body: `p${i}` };
        created.push((await create(i % 4 === 0 ? { ...body, sendAt: fromNow(HOUR) } : body)).id);
      }
      const expected = [...created].reverse();

      const walk = async (query: Record<string, string>, limit: number) => {
        const seen: string[] = [];
        const sizes: number[] = [];
        let cursor: string | null = null;
        for (let guard = 0; guard < 100; guard++) {
          const res = await list({
            ...query,
            limit: String(limit),
            ...(cursor ? { cursor } : {}),
          });
          expect(res.status).toBe(200);
          expect(res.json.data.length).toBeLessThanOrEqual(limit);
          seen.push(...ids(res.json));
          sizes.push(res.json.data.length);
          cursor = res.json.nextCursor;
          if (cursor === null) return { seen, sizes };
        }
        throw new Error("paging did not end");
      };

      const byFive = await walk({}, 5);
      expect(byFive.seen).toEqual(expected);
      expect(byFive.sizes).toEqual([5, 5, 5, 5, 3]);

      // A limit that divides the total exactly ends without an empty page.
      expect((await walk({}, 23)).sizes).toEqual([23]);
      expect((await walk({}, 22)).sizes).toEqual([22, 1]);
      expect((await walk({}, 1)).seen).toEqual(expected);
      expect((await walk({}, 500)).sizes).toEqual([23]);

      // Paging keeps the filter.
      const queued = await walk({ status: "queued" }, 4);
      expect(queued.seen).toEqual(expected.filter((_, i) => (22 - i) % 4 !== 0));
      expect(queued.sizes).toEqual([4, 4, 4, 4, 1]);

      // Messages that arrive during the walk do not show up in later pages or repeat any.
      const first = await list({ limit: "10" });
      clock += 1000;
      const late = await create({ to: phone(99), body: "late" });
      const rest: string[] = [];
      let cursor: string | null = first.json.nextCursor;
      while (cursor !== null) {
        const res: { json: Page } = await list({ limit: "10", cursor });
        rest.push(...ids(res.json));
        cursor = res.json.nextCursor;
      }
      expect([...ids(first.json), ...rest]).toEqual(expected);
      expect(rest).not.toContain(late.id);
    });

    it("defaults to 50 per page", async () => {
      const messages = Array.from({ length: 51 }, (_, i) => ({ to: phone(i), body: `d${i}` }));
      const res = await call(api, "POST", "/v1/messages/batch", { json: { messages } });
      expect(res.status).toBe(200);
      const page = await list();
      expect(page.json.data).toHaveLength(50);
      expect(page.json.nextCursor).toEqual(expect.any(String));
      const next = await list({ cursor: page.json.nextCursor as string });
      expect(next.json.data).toHaveLength(1);
      expect(next.json.nextCursor).toBeNull();
    });
  });

  describe("POST /v1/messages/:id/cancel", () => {
    it("cancels a queued message and records the change", async () => {
      const m = await create({ to: phone(1), body: "cancel me" });
      const res = await call<Message>(api, "POST", `/v1/messages/${m.id}/cancel`);
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ id: m.id, status: "canceled", nextAttemptAt: null });
      expect(res.json.completedAt).toEqual(expect.any(String));

      const detail = await call<MessageDetail>(api, "GET", `/v1/messages/${m.id}`);
      expect(detail.json.status).toBe("canceled");
      expect(detail.json.events).toHaveLength(2);
      expect(detail.json.events[1]).toMatchObject({
        type: "status",
        fromStatus: "queued",
        toStatus: "canceled",
        source: "api",
      });
    });

    it("cancels a scheduled message", async () => {
      const m = await create({ to: phone(1), body: "later", sendAt: fromNow(HOUR) });
      const res = await call<Message>(api, "POST", `/v1/messages/${m.id}/cancel`);
      expect(res.status).toBe(200);
      expect(res.json.status).toBe("canceled");
      const detail = await getOne(api, m.id);
      expect(detail.json.events.at(-1)).toMatchObject({
        fromStatus: "scheduled",
        toStatus: "canceled",
      });
    });

    it("refuses to cancel twice: 409 invalid_state, nothing changes", async () => {
      const m = await create({ to: phone(1), body: "once" });
      const first = await call<Message>(api, "POST", `/v1/messages/${m.id}/cancel`);
      expect(first.status).toBe(200);
      const before = await countRows(store.db);
      const again = await call(api, "POST", `/v1/messages/${m.id}/cancel`);
      expect(again.status).toBe(409);
      expect(errorOf(again)).toMatchObject({ code: "invalid_state", field: "id" });
      expect(errorOf(again).message).toContain("canceled");
      expect(await countRows(store.db)).toEqual(before);
      const detail = await getOne(api, m.id);
      expect(detail.json.updatedAt).toBe(first.json.updatedAt);
    });

    it("answers 404 for an unknown message", async () => {
      const unknown = "msg_01ARZ3NDEKTSV4RRFFQ69G5FAV";
      const res = await call(api, "POST", `/v1/messages/${unknown}/cancel`);
      expect(res.status).toBe(404);
      expect(errorOf(res)).toMatchObject({ code: "not_found", field: "id" });
      const malformed = await call(api, "POST", "/v1/messages/whatever/cancel");
      expect(malformed.status).toBe(404);
      expect(errorOf(malformed).code).toBe("not_found");
    });

    it("takes an empty body with any of the usual content types", async () => {
      const a = await create({ to: phone(1), body: "a" });
      const b = await create({ to: phone(2), body: "b" });
      const json = await call(api, "POST", `/v1/messages/${a.id}/cancel`, { raw: "" });
      expect(json.status).toBe(200);
      const plain = await call(api, "POST", `/v1/messages/${b.id}/cancel`, {
        raw: "",
        headers: { "content-type": "text/plain;charset=UTF-8" },
      });
      expect(plain.status).toBe(200);
    });
  });

  describe("auth", () => {
    it("refuses /v1 without a key or with a wrong one, and takes either configured key", async () => {
      const m = await create({ to: phone(1), body: "x" });
      const before = await countRows(store.db);
      const cases: [string | null, Record<string, string>][] = [
        [null, {}],
        ["wrong-key", {}],
        [null, { authorization: `Basic ${Buffer.from(`u:${KEY_A}`).toString("base64")}` }],
        [null, { authorization: KEY_A }],
        [null, { authorization: `Bearer ${KEY_A} extra` }],
        [null, { authorization: "Bearer " }],
        [`${KEY_A}x`, {}],
      ];
      for (const [key, headers] of cases) {
        for (const [method, path, json] of [
          ["GET", "/v1/messages", undefined],
          ["GET", `/v1/messages/${m.id}`, undefined],
          ["POST", "/v1/messages", { to: phone(2), body: "y" }],
          ["POST", "/v1/messages/batch", { messages: [{ to: phone(2), body: "y" }] }],
          ["POST", `/v1/messages/${m.id}/cancel`, undefined],
          ["GET", "/v1/no-such-route", undefined],
        ] as const) {
          const res = await call(api, method, path, { key, headers, json });
          expect(res.status, `${method} ${path} with ${JSON.stringify(headers)}`).toBe(401);
          expect(errorOf(res)).toMatchObject({ code: "unauthorized", field: "Authorization" });
        }
      }
      expect(await countRows(store.db)).toEqual(before);
      expect((await getOne(api, m.id)).json.status).toBe("queued");

      expect((await call(api, "GET", "/v1/messages", { key: KEY_A })).status).toBe(200);
      expect((await call(api, "GET", "/v1/messages", { key: KEY_B })).status).toBe(200);
      const lower = await call(api, "GET", "/v1/messages", {
        key: null,
        headers: { authorization: `bearer ${KEY_B}` },
      });
      expect(lower.status).toBe(200);
    });

    it("cannot be bypassed with %-escapes in the path", async () => {
      for (const path of ["/%761/messages", "/v1/%6Dessages", "/%76%31/messages/batch"]) {
        const res = await call(api, "POST", path, {
          key: null,
          json: path.endsWith("batch")
            ? { messages: [{ to: phone(1), body: "sneaky" }] }
            : { to: phone(1), body: "sneaky" },
        });
        expect(res.status, path).toBe(401);
        expect(errorOf(res).code).toBe("unauthorized");
      }
      expect((await countRows(store.db)).messages).toBe(0);
      // With the key, the escaped path is the same route.
      const ok = await call(api, "GET", "/%761/messages");
      expect(ok.status).toBe(200);
    });

    it("leaves /healthz, /readyz, /openapi.json and the page open", async () => {
      const health = await call(api, "GET", "/healthz", { key: null });
      expect(health.status).toBe(200);
      expect(health.json).toEqual({ status: "ok" });

      const ready = await call<{ status: string; store: string; schema: number }>(
        api,
        "GET",
        "/readyz",
        { key: null },
      );
      expect(ready.status).toBe(200);
      expect(ready.json).toMatchObject({ status: "ready", store: engine });
      expect(ready.json.schema).toBeGreaterThanOrEqual(1);

      const doc = await call(api, "GET", "/openapi.json", { key: null });
      expect(doc.status).toBe(200);

      const page = await call(api, "GET", "/", { key: null });
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toMatch(/^text\/html/);
      expect(page.text.toLowerCase()).toMatch(/^<!doctype html>/);
      expect(page.text).toContain("<title>smsq</title>");
      for (const asset of ["/app.js", "/style.css"]) {
        expect((await call(api, "GET", asset, { key: null })).status).toBe(200);
      }
    });

    it("serves a valid OpenAPI 3.0.3 document with the message paths", async () => {
      const res = await call(api, "GET", "/openapi.json", { key: null });
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      const doc = JSON.parse(res.text) as {
        openapi: string;
        info: { title: string; version: string };
        paths: Record<string, Record<string, { security?: unknown[] }>>;
        components: { securitySchemes: Record<string, unknown> };
      };
      expect(doc.openapi).toBe("3.0.3");
      expect(doc.info).toMatchObject({ title: "smsq", version: "test" });
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining([
          "/v1/messages",
          "/v1/messages/batch",
          "/v1/messages/{id}",
          "/v1/messages/{id}/cancel",
        ]),
      );
      expect(Object.keys(doc.paths["/v1/messages"] ?? {}).sort()).toEqual(["get", "post"]);
      expect(Object.keys(doc.paths["/v1/messages/{id}/cancel"] ?? {})).toEqual(["post"]);
      expect(doc.paths["/v1/messages/batch"]?.post?.security).toEqual([{ bearer: [] }]);
      expect(doc.paths["/healthz"]).toBeUndefined();
      expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http" });
    });

    it("serves /v1 without a key when no key is configured", async () => {
      const a = await submit(open, { to: phone(1), body: "open" }, { key: null });
      expect(a.status).toBe(202);
      const b = await submit(open, { to: phone(2), body: "open" }, { key: "anything" });
      expect(b.status).toBe(202);
      const res = await call<Page>(open, "GET", "/v1/messages", { key: null });
      expect(res.status).toBe(200);
      expect(res.json.data).toHaveLength(2);
      // The server with keys still refuses the same request.
      expect((await call(api, "GET", "/v1/messages", { key: null })).status).toBe(401);
    });
  });
});
