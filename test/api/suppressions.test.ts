import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { countRows, ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import { startServer, type Api } from "./http.js";

describe.each(ENGINES)("/v1/suppressions (%s)", (engine) => {
  let store: TestStore;
  let api: Api;
  const call = (method: string, path: string, body?: unknown) =>
    fetch(api.base + path, {
      method,
      headers: {
        authorization: "Bearer test-key-a",
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

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

  it("adds (normalised), lists with paging, and removes numbers", async () => {
    const add = await call("POST", "/v1/suppressions", {
      phone: "(415) 555-2671",
      reason: "asked by phone",
    });
    expect(add.status).toBe(201);
    expect(await add.json()).toMatchObject({
      phone: "+14155552671",
      reason: "asked by phone",
      source: "api",
    });
    expect((await call("POST", "/v1/suppressions", { phone: "+14155552671" })).status).toBe(200);
    for (const p of ["+14155552672", "+14155552673"]) {
      await call("POST", "/v1/suppressions", { phone: p });
    }
    const page1 = (await (await call("GET", "/v1/suppressions?limit=2")).json()) as {
      data: { phone: string }[];
      nextCursor: string;
    };
    expect(page1.data.map((d) => d.phone)).toEqual(["+14155552671", "+14155552672"]);
    const page2 = (await (
      await call("GET", `/v1/suppressions?limit=2&cursor=${page1.nextCursor}`)
    ).json()) as { data: { phone: string }[]; nextCursor: string | null };
    expect(page2.data.map((d) => d.phone)).toEqual(["+14155552673"]);
    expect(page2.nextCursor).toBeNull();
    expect((await call("DELETE", "/v1/suppressions/%2B14155552672")).status).toBe(204);
    expect((await call("DELETE", "/v1/suppressions/%2B14155552672")).status).toBe(404);
  });

  it("refuses bad input with a 4xx and stores nothing", async () => {
    const before = await countRows(store.db);
    const cases: [unknown, number, string][] = [
      [{ phone: "12" }, 400, "invalid_phone"],
      [{ phone: "+14155552671", extra: 1 }, 400, "unknown_field"],
      [{}, 400, "invalid_request"],
      [{ phone: "+14155552671", reason: "" }, 400, "invalid_request"],
    ];
    for (const [body, code, err] of cases) {
      const r = await call("POST", "/v1/suppressions", body);
      expect(r.status, JSON.stringify(body)).toBe(code);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe(err);
    }
    expect((await call("GET", "/v1/suppressions?limit=0")).status).toBe(400);
    expect((await call("GET", "/v1/suppressions?cursor=zzz")).status).toBe(400);
    expect(await countRows(store.db)).toEqual(before);
  });
});
