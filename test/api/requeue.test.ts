/**
 * Dead letters over real HTTP: POST /v1/messages/:id/retry and POST /v1/messages/requeue (with
 * every filter and dryRun), bad input that changes nothing, and `smsq requeue`.
 */
import Fastify from "fastify";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { buildServer } from "../../src/api/server.js";
import { errorHandler } from "../../src/api/errors.js";
import { requeueRoutes } from "../../src/api/routes/requeue.js";
import { ajv } from "../../src/api/validation.js";
import { requeueCommand } from "../../src/cli/requeue.js";
import type { Message, MessageDetail } from "../../src/messages/schemas.js";
import { countRows, ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";
import { seed } from "../helpers/seed.js";
import { call, errorOf, getOne, HOUR, KEY_A, type Api, type ApiError } from "./http.js";

interface Answer {
  matched: number;
  requeued: number;
  dryRun: boolean;
  ids: string[];
}

/** The API server with the requeue routes (registered here until server.ts does it). */
async function start(db: TestStore["db"]): Promise<Api> {
  const app = await buildServer({
    db,
    log: silentLog,
    apiKeys: [KEY_A],
    settings: { defaultRegion: "US", maxSegments: 10 },
    maxRequestBytes: 1024 * 1024,
    version: "test",
  });
  if (!app.hasRoute({ method: "POST", url: "/v1/messages/requeue" })) requeueRoutes(app, { db });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, app, close: () => app.close() };
}

describe.each(ENGINES)("requeue (%s)", (engine) => {
  let store: TestStore;
  let api: Api;
  // Columns of migration 0003 that a requeue resets, when the store has them.
  let policyColumns = new Set<string>();

  beforeAll(async () => {
    store = await openTestStore(engine);
    api = await start(store.db);
    const cols = await store.db.query<{ column_name: string }>(
      `select column_name from information_schema.columns
       where table_schema = 'smsq' and table_name = 'messages'
         and column_name in ('budget_base', 'free_attempts', 'in_doubt')`,
    );
    policyColumns = new Set(cols.map((c) => c.column_name));
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
  });
  beforeEach(async () => {
    await store.reset();
  });

  interface DeadLetter {
    status: string;
    code?: string | null;
    class?: string | null;
    completedAt?: Date;
    attempts?: number;
    validUntil?: Date | null;
  }

  /** Makes a message and puts it in the given final state, with one attempt row per call. */
  async function make(d: DeadLetter): Promise<string> {
    const [id] = await seed(store.db, 1);
    if (!id) throw new Error("seed made nothing");
    const attempts = d.attempts ?? 3;
    await store.db.query(
      `update smsq.messages
       set status = $2, last_error_code = $3, last_error_message = $4, last_error_class = $5,
           completed_at = $6, attempts = $7, valid_until = $8, run_at = now() - interval '1 hour',
           provider = 'sandbox', account = 'sandbox'
       where id = $1`,
      [
        id,
        d.status,
        d.code === undefined ? "30003" : d.code,
        d.code === null ? null : "Unreachable destination handset",
        d.class === undefined ? "transient" : d.class,
        (d.completedAt ?? new Date(Date.now() - 60_000)).toISOString(),
        attempts,
        d.validUntil ? d.validUntil.toISOString() : null,
      ],
    );
    for (let n = 1; n <= attempts; n++) {
      await store.db.query(
        `insert into smsq.attempts (message_id, attempt, provider, account, outcome, error_code,
                                    error_class, started_at, finished_at)
         values ($1, $2, 'sandbox', 'sandbox', 'failed', '30003', 'transient', now(), now())`,
        [id, n],
      );
    }
    return id;
  }

  /** Every message's status, to show that a refused request changed nothing. */
  async function snapshot() {
    const rows = await store.db.query<{ id: string; status: string; run_at: Date }>(
      "select id, status, run_at, updated_at from smsq.messages order by id",
    );
    return { rows: JSON.stringify(rows), counts: await countRows(store.db) };
  }

  const requeue = (json: unknown, opts: { key?: string | null } = {}) =>
    call<Answer & ApiError>(api, "POST", "/v1/messages/requeue", { json, ...opts });
  const retry = (id: string) => call<Message & ApiError>(api, "POST", `/v1/messages/${id}/retry`);
  const statusOf = async (id: string) => (await getOne(api, id)).json.status;

  describe("POST /v1/messages/:id/retry", () => {
    it("puts a failed message back in the queue, keeping its history", async () => {
      const id = await make({ status: "failed", attempts: 5 });
      if (policyColumns.size === 3) {
        await store.db.query(
          "update smsq.messages set in_doubt = true, free_attempts = 2 where id = $1",
          [id],
        );
      }
      const before = Date.now();
      const res = await retry(id);
      expect(res.status, res.text).toBe(200);
      expect(res.json.id).toBe(id);
      expect(res.json.status).toBe("queued");
      expect(res.json.attemptCount).toBe(5);
      expect(res.json.retrying).toBe(true);
      expect(res.json.completedAt).toBeNull();
      expect(res.json.lastError).toMatchObject({ code: "30003", class: "transient" });
      expect(Date.parse(res.json.nextAttemptAt as string)).toBeGreaterThanOrEqual(before - 2000);
      expect(Date.parse(res.json.nextAttemptAt as string)).toBeLessThanOrEqual(Date.now() + 2000);

      const detail = (await getOne(api, id)).json as MessageDetail;
      expect(detail.status).toBe("queued");
      expect(detail.attempts).toHaveLength(5);
      const ev = detail.events.at(-1);
      expect(ev).toMatchObject({
        type: "requeued",
        fromStatus: "failed",
        toStatus: "queued",
        source: "operator",
        detail: { source: "api" },
      });
      if (policyColumns.size === 3) {
        // A fresh budget: the attempts so far become the base; the count of free ones restarts.
        // It stays in doubt: it is reconciled with the provider before it is sent again.
        const [row] = await store.db.query(
          "select attempts, budget_base, free_attempts, in_doubt from smsq.messages where id = $1",
          [id],
        );
        expect(row).toEqual({ attempts: 5, budget_base: 5, free_attempts: 0, in_doubt: true });
      }
    });

    it("requeues expired and undelivered messages too", async () => {
      const expired = await make({ status: "expired", code: "expired", class: null });
      const undelivered = await make({ status: "undelivered", code: "30005" });
      for (const [id, from] of [
        [expired, "expired"],
        [undelivered, "undelivered"],
      ] as const) {
        const res = await retry(id);
        expect(res.status, res.text).toBe(200);
        expect(res.json.status).toBe("queued");
        const detail = (await getOne(api, id)).json;
        expect(detail.events.at(-1)).toMatchObject({ type: "requeued", fromStatus: from });
      }
    });

    it("answers 409 invalid_state for a status that cannot be requeued, changing nothing", async () => {
      const delivered = await make({ status: "delivered", code: null, class: null });
      const [queued] = await seed(store.db, 1);
      const canceled = await make({ status: "canceled", code: null, class: null });
      const before = await snapshot();
      for (const id of [delivered, queued as string, canceled]) {
        const res = await retry(id);
        expect(res.status, res.text).toBe(409);
        expect(errorOf(res)).toMatchObject({ code: "invalid_state", field: "id" });
      }
      expect(await snapshot()).toEqual(before);
    });

    it("answers 409 for a message past its validUntil (it would only expire again)", async () => {
      const id = await make({ status: "expired", validUntil: new Date(Date.now() - HOUR) });
      const before = await snapshot();
      const res = await retry(id);
      expect(res.status, res.text).toBe(409);
      expect(errorOf(res).code).toBe("invalid_state");
      expect(await snapshot()).toEqual(before);
      // Still valid for a while: fine.
      const later = await make({ status: "expired", validUntil: new Date(Date.now() + HOUR) });
      expect((await retry(later)).status).toBe(200);
    });

    it("answers 404 for an unknown or malformed id", async () => {
      await make({ status: "failed" });
      const before = await snapshot();
      for (const id of ["msg_01KB7YQ3ZJ5V6X7W8Y9Z0A1B2C", "nope", "msg_%27"]) {
        const res = await retry(id);
        expect(res.status, res.text).toBe(404);
        expect(errorOf(res).code).toBe("not_found");
      }
      expect(await snapshot()).toEqual(before);
    });

    it("needs an API key", async () => {
      const id = await make({ status: "failed" });
      const res = await call(api, "POST", `/v1/messages/${id}/retry`, { key: null });
      expect(res.status).toBe(401);
      expect(await statusOf(id)).toBe("failed");
    });
  });

  describe("POST /v1/messages/requeue", () => {
    it("is routed to requeue, not to a /v1/messages/:id route", async () => {
      const res = await requeue({ dryRun: true });
      expect(res.status, res.text).toBe(200);
      expect(res.json).toEqual({ matched: 0, requeued: 0, dryRun: true, ids: [] });
      // The neighbours still answer as before.
      expect((await call(api, "GET", "/v1/messages/requeue")).status).toBe(404);
      const batch = await call(api, "POST", "/v1/messages/batch", {
        json: { messages: [{ to: "+14155550100", body: "hi" }] },
      });
      expect(batch.status, batch.text).toBe(200);
    });

    it("requeues failed messages by default, oldest first, with an event each", async () => {
      const f1 = await make({ status: "failed" });
      const f2 = await make({ status: "failed" });
      const expired = await make({ status: "expired" });
      const undelivered = await make({ status: "undelivered" });
      const delivered = await make({ status: "delivered", code: null, class: null });
      const res = await requeue({});
      expect(res.status, res.text).toBe(200);
      expect(res.json).toEqual({ matched: 2, requeued: 2, dryRun: false, ids: [f1, f2] });
      for (const id of [f1, f2]) {
        const d = (await getOne(api, id)).json;
        expect(d.status).toBe("queued");
        expect(d.attemptCount).toBe(3);
        expect(d.events.filter((e) => e.type === "requeued")).toHaveLength(1);
      }
      expect(await statusOf(expired)).toBe("expired");
      expect(await statusOf(undelivered)).toBe("undelivered");
      expect(await statusOf(delivered)).toBe("delivered");
      // Nothing left to requeue: a second call matches nothing.
      expect((await requeue({})).json).toMatchObject({ matched: 0, requeued: 0 });
    });

    it("filters by status", async () => {
      const failed = await make({ status: "failed" });
      const expired = await make({ status: "expired" });
      const undelivered = await make({ status: "undelivered" });
      const res = await requeue({ statuses: ["expired", "undelivered"] });
      expect(res.status, res.text).toBe(200);
      expect(res.json.ids).toEqual([expired, undelivered]);
      expect(await statusOf(failed)).toBe("failed");
      expect(await statusOf(expired)).toBe("queued");
      expect(await statusOf(undelivered)).toBe("queued");
    });

    it("filters by error code and error class", async () => {
      const a = await make({ status: "failed", code: "30003", class: "transient" });
      const b = await make({ status: "failed", code: "30005", class: "recipient_permanent" });
      const c = await make({ status: "failed", code: "30007", class: "content_permanent" });
      const d = await make({ status: "failed", code: "20500", class: "ambiguous" });

      const byCode = await requeue({ errorCodes: ["30005", "30007"], dryRun: true });
      expect(byCode.json.ids).toEqual([b, c]);
      const byClass = await requeue({ errorClasses: ["transient", "ambiguous"], dryRun: true });
      expect(byClass.json.ids).toEqual([a, d]);
      const both = await requeue({ errorCodes: ["30003", "30005"], errorClasses: ["transient"] });
      expect(both.json).toMatchObject({ matched: 1, requeued: 1, ids: [a] });
      expect(await statusOf(a)).toBe("queued");
      for (const id of [b, c, d]) expect(await statusOf(id)).toBe("failed");
    });

    it("filters by completion time: since inclusive, until exclusive", async () => {
      const t0 = Date.now() - 10 * HOUR;
      const at = (h: number) => new Date(t0 + h * HOUR);
      const m1 = await make({ status: "failed", completedAt: at(1) });
      const m2 = await make({ status: "failed", completedAt: at(2) });
      const m3 = await make({ status: "failed", completedAt: at(3) });
      const m4 = await make({ status: "failed", completedAt: at(4) });

      const range = await requeue({
        since: at(2).toISOString(),
        until: at(4).toISOString(),
        dryRun: true,
      });
      expect(range.json.ids).toEqual([m2, m3]);
      const since = await requeue({ since: at(3).toISOString(), dryRun: true });
      expect(since.json.ids).toEqual([m3, m4]);
      const until = await requeue({ until: at(1.5).toISOString() });
      expect(until.json).toMatchObject({ requeued: 1, ids: [m1] });
      expect(await statusOf(m1)).toBe("queued");
      expect(await statusOf(m2)).toBe("failed");
    });

    it("takes ids and a limit", async () => {
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push(await make({ status: "failed" }));
      const picked = await requeue({ ids: [ids[3], ids[1], ids[4]], dryRun: true });
      expect(picked.json.ids).toEqual([ids[1], ids[3], ids[4]]);
      const limited = await requeue({ limit: 2 });
      expect(limited.json).toMatchObject({ matched: 2, requeued: 2, ids: ids.slice(0, 2) });
      const rest = await requeue({ limit: 10 });
      expect(rest.json.ids).toEqual(ids.slice(2));
    });

    it("never matches messages past their validUntil", async () => {
      const lapsed = await make({ status: "expired", validUntil: new Date(Date.now() - 1000) });
      const valid = await make({ status: "expired", validUntil: new Date(Date.now() + HOUR) });
      const res = await requeue({ statuses: ["expired"] });
      expect(res.json.ids).toEqual([valid]);
      expect(await statusOf(lapsed)).toBe("expired");
    });

    it("dryRun lists the matches and changes nothing", async () => {
      const ids = [await make({ status: "failed" }), await make({ status: "failed" })];
      await make({ status: "delivered", code: null, class: null });
      const before = await snapshot();
      const res = await requeue({ dryRun: true });
      expect(res.status, res.text).toBe(200);
      expect(res.json).toEqual({ matched: 2, requeued: 0, dryRun: true, ids });
      expect(await snapshot()).toEqual(before);
    });

    it("skips rows another transaction holds", async () => {
      if (engine !== "postgres") return; // PGlite runs one transaction at a time
      const held = await make({ status: "failed" });
      const free = await make({ status: "failed" });
      const res = await store.db.transaction(async (tx) => {
        await tx.query("select id from smsq.messages where id = $1 for update", [held]);
        return requeue({});
      });
      expect(res.json).toMatchObject({ matched: 1, ids: [free] });
      expect(await statusOf(held)).toBe("failed");
    });

    // prettier-ignore
    const BAD: { name: string; body?: unknown; raw?: string; code: string; field?: string }[] = [
      { name: "unknown field", body: { status: ["failed"] }, code: "unknown_field", field: "status" },
      { name: "not requeueable status", body: { statuses: ["delivered"] }, code: "invalid_request", field: "statuses" },
      { name: "queued status", body: { statuses: ["failed", "queued"] }, code: "invalid_request", field: "statuses" },
      { name: "unknown status", body: { statuses: ["bogus"] }, code: "invalid_request", field: "statuses" },
      { name: "empty statuses", body: { statuses: [] }, code: "invalid_request", field: "statuses" },
      { name: "statuses not a list", body: { statuses: "failed" }, code: "invalid_request", field: "statuses" },
      { name: "bad since", body: { since: "yesterday" }, code: "invalid_date", field: "since" },
      { name: "since without zone", body: { since: "2026-01-01T00:00:00" }, code: "invalid_date", field: "since" },
      { name: "impossible until", body: { until: "2026-02-30T00:00:00Z" }, code: "invalid_date", field: "until" },
      { name: "until before since", body: { since: "2026-01-02T00:00:00Z", until: "2026-01-01T00:00:00Z" }, code: "invalid_request", field: "until" },
      { name: "limit 0", body: { limit: 0 }, code: "invalid_request", field: "limit" },
      { name: "limit too big", body: { limit: 10_001 }, code: "invalid_request", field: "limit" },
      { name: "limit as string", body: { limit: "5" }, code: "invalid_request", field: "limit" },
      { name: "fractional limit", body: { limit: 1.5 }, code: "invalid_request", field: "limit" },
      { name: "malformed id", body: { ids: ["nope"] }, code: "invalid_request", field: "ids" },
      { name: "empty ids", body: { ids: [] }, code: "invalid_request", field: "ids" },
      { name: "empty error code", body: { errorCodes: [""] }, code: "invalid_request", field: "errorCodes[0]" },
      { name: "dryRun as string", body: { dryRun: "yes" }, code: "invalid_request", field: "dryRun" },
      { name: "not an object", body: ["failed"], code: "invalid_request" },
      { name: "no body", code: "invalid_request" },
      { name: "invalid JSON", raw: "{dryRun: true", code: "invalid_json" },
    ];
    it.each(BAD)("refuses $name with 400 and changes nothing", async (c) => {
      await make({ status: "failed" });
      await make({ status: "expired" });
      const before = await snapshot();
      const res =
        c.raw !== undefined
          ? await call(api, "POST", "/v1/messages/requeue", { raw: c.raw })
          : c.body === undefined
            ? await call(api, "POST", "/v1/messages/requeue")
            : await requeue(c.body);
      expect(res.status, res.text).toBe(400);
      const err = errorOf(res);
      expect(err.code).toBe(c.code);
      if (c.field !== undefined) expect(err.field).toBe(c.field);
      expect(await snapshot()).toEqual(before);
    });

    it("needs an API key", async () => {
      const id = await make({ status: "failed" });
      const res = await requeue({}, { key: null });
      expect(res.status).toBe(401);
      expect(await statusOf(id)).toBe("failed");
    });
  });

  describe("onRequeued", () => {
    it("is called when something was requeued, not for a dry run or no match", async () => {
      const app = Fastify();
      app.setValidatorCompiler(({ schema }) => ajv.compile(schema));
      app.setErrorHandler(errorHandler(silentLog));
      let calls = 0;
      requeueRoutes(app, { db: store.db, onRequeued: () => (calls += 1) });
      await app.listen({ port: 0, host: "127.0.0.1" });
      const { port } = app.server.address() as AddressInfo;
      try {
        const a = await make({ status: "failed" });
        const b = await make({ status: "failed" });
        const post = async (path: string, json?: unknown) => {
          const r = await fetch(`http://127.0.0.1:${port}${path}`, {
            method: "POST",
            headers: json === undefined ? {} : { "content-type": "application/json" },
            body: json === undefined ? undefined : JSON.stringify(json),
          });
          return { status: r.status, json: (await r.json()) as Answer };
        };
        expect((await post("/v1/messages/requeue", { dryRun: true })).status).toBe(200);
        expect(calls).toBe(0);
        expect((await post(`/v1/messages/${a}/retry`)).status).toBe(200);
        expect(calls).toBe(1);
        expect((await post(`/v1/messages/${a}/retry`)).status).toBe(409);
        expect(calls).toBe(1);
        expect((await post("/v1/messages/requeue", {})).json).toMatchObject({ ids: [b] });
        expect(calls).toBe(2);
        expect((await post("/v1/messages/requeue", {})).json).toMatchObject({ matched: 0 });
        expect(calls).toBe(2);
      } finally {
        await app.close();
      }
    });
  });

  describe("smsq requeue", () => {
    async function cli(args: string[]): Promise<{ out: string; err: string; code: number }> {
      const out: string[] = [];
      const err: string[] = [];
      const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => {
        out.push(String(s));
        return true;
      });
      const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => {
        err.push(String(s));
        return true;
      });
      const prev = process.exitCode;
      process.exitCode = 0;
      try {
        const cmd = requeueCommand().exitOverride();
        await cmd.parseAsync([...args, "--url", api.base, "--api-key", KEY_A], { from: "user" });
        return { out: out.join(""), err: err.join(""), code: Number(process.exitCode ?? 0) };
      } finally {
        process.exitCode = prev;
        o.mockRestore();
        e.mockRestore();
      }
    }

    it("dry-runs, requeues and prints the ids (first 20, then …)", async () => {
      const ids: string[] = [];
      for (let i = 0; i < 22; i++) ids.push(await make({ status: "failed", code: "30003" }));
      const other = await make({ status: "failed", code: "30008" });

      const dry = await cli(["--dry-run", "--code", "30003"]);
      expect(dry.code).toBe(0);
      const lines = dry.out.trimEnd().split("\n");
      expect(lines[0]).toBe("would requeue 22 messages");
      expect(lines.slice(1, 21)).toEqual(ids.slice(0, 20).map((id) => `  ${id}`));
      expect(lines[21]).toBe("  … and 2 more");
      expect(lines).toHaveLength(22);
      expect(await statusOf(ids[0] as string)).toBe("failed");

      const real = await cli(["--id", `${ids[0]},${ids[1]}`, "--id", other, "--status", "failed"]);
      expect(real.out).toBe(`requeued 3 messages\n  ${ids[0]}\n  ${ids[1]}\n  ${other}\n`);
      const d = (await getOne(api, other)).json;
      expect(d.status).toBe("queued");
      expect(d.events.at(-1)).toMatchObject({ type: "requeued", detail: { source: "cli" } });

      const json = await cli(["--class", "transient", "--limit", "1", "--json"]);
      expect(JSON.parse(json.out)).toEqual({
        matched: 1,
        requeued: 1,
        dryRun: false,
        ids: [ids[2]],
      });
    });

    it("reports the API's error and exits 1", async () => {
      await make({ status: "failed" });
      const before = await snapshot();
      const res = await cli(["--status", "delivered"]);
      expect(res.code).toBe(1);
      expect(res.err).toMatch(/400 invalid_request: .*\(field statuses\)/);
      const since = await cli(["--since", "last week"]);
      expect(since.err).toMatch(/invalid_date.*\(field since\)/);
      expect(await snapshot()).toEqual(before);
    });
  });
});
