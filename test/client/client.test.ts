// The typed client against a real server over HTTP: every method, the error mapping, timeouts,
// network failures and the optional wait on 429/503.
import net from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  isApiError,
  isBatchError,
  parseRetryAfter,
  SmsqApiError,
  SmsqClient,
  SmsqNetworkError,
  type BatchResultItem,
  type Message,
} from "../../src/client/index.js";
import { openTestStore, type TestStore } from "../helpers/db.js";
import { freePort } from "../helpers/ports.js";
import { fromNow, HOUR, KEY_A, KEY_B, phone, startServer, type Api } from "../api/http.js";

function message(item: BatchResultItem | undefined): Message {
  if (!item || isBatchError(item)) throw new Error(`not a message: ${JSON.stringify(item)}`);
  return item;
}

/** The promise's rejection, which must be an SmsqApiError. */
async function apiError(p: Promise<unknown>): Promise<SmsqApiError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  if (!(e instanceof SmsqApiError)) throw new Error(`expected SmsqApiError, got ${String(e)}`);
  return e;
}

describe("SmsqClient", () => {
  let store: TestStore;
  let api: Api;
  let client: SmsqClient;

  beforeAll(async () => {
    store = await openTestStore("pglite");
    api = await startServer(store.db);
    client = new SmsqClient({ baseUrl: `${api.base}/`, apiKey: KEY_A });
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
  });
  beforeEach(async () => {
    await store.reset();
  });

  it("send: submits one message and answers it queued, normalised", async () => {
    const m = await client.send({
      to: "(415) 555-0100",
      body: "hello",
      priority: "high",
      metadata: { patient: "p-17" },
    });
    expect(m).toMatchObject({
      to: "+14155550100",
      body: "hello",
      status: "queued",
      priority: "high",
      segments: 1,
      encoding: "GSM-7",
      metadata: { patient: "p-17" },
    });
    expect(m.id).toMatch(/^msg_/);
    const later = await client.send({ to: phone(1), body: "later", sendAt: fromNow(HOUR) });
    expect(later.status).toBe("scheduled");
  });

  it("send: an idempotency key replays the first message; another payload is a 409", async () => {
    const first = await client.send({ to: phone(0), body: "A" }, { idempotencyKey: "k-1" });
    const again = await client.send({ to: phone(0), body: "A" }, { idempotencyKey: "k-1" });
    expect(again.id).toBe(first.id);
    const e = await apiError(client.send({ to: phone(0), body: "B" }, { idempotencyKey: "k-1" }));
    expect(e).toMatchObject({
      name: "SmsqApiError",
      status: 409,
      code: "idempotency_conflict",
      field: "Idempotency-Key",
    });
    // Keys are per API key: the same key under another one is a new message.
    const other = new SmsqClient({ baseUrl: api.base, apiKey: KEY_B });
    const theirs = await other.send({ to: phone(0), body: "B" }, { idempotencyKey: "k-1" });
    expect(theirs.id).not.toBe(first.id);
  });

  it("with retries on, a 503 after the store committed stores nothing twice (send and batch)", async () => {
    // The first POST reaches the server and is stored; its answer is replaced by the 503 the
    // API gives when the connection broke while committing. The retry must replay, not store.
    const keys: (string | null)[] = [];
    let lose = 0;
    const losing = async (input: string | URL | Request, init?: RequestInit) => {
      const real = await fetch(input, init);
      keys.push(new Headers(init?.headers).get("idempotency-key"));
      if (lose > 0) {
        lose -= 1;
        await real.text();
        return new Response(
          JSON.stringify({ error: { code: "store_unavailable", message: "may have been stored" } }),
          { status: 503, headers: { "retry-after": "0", "content-type": "application/json" } },
        );
      }
      return real;
    };
    const patient = new SmsqClient({
      baseUrl: api.base,
      apiKey: KEY_A,
      fetch: losing,
      retry: true,
    });
    lose = 1;
    const sent = await patient.send({ to: phone(5), body: "once" });
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^smsq-auto-[0-9a-f]{32}$/);
    expect(keys[1]).toBe(keys[0]);

    lose = 1;
    const batch = await patient.batch([
      { to: phone(6), body: "b1" },
      { to: phone(7), body: "b2", idempotencyKey: "mine" },
    ]);
    expect(batch).toMatchObject({ created: 0, replayed: 2 });
    const rows = await store.db.query<{ to_number: string; id: string }>(
      "select to_number, id from smsq.messages order by to_number",
    );
    expect(rows.map((r) => r.to_number)).toEqual([phone(5), phone(6), phone(7)]);
    expect(rows[0]?.id).toBe(sent.id);
    const own = await store.db.query<{ key: string }>(
      "select key from smsq.idempotency_keys where key = 'mine'",
    );
    expect(own).toHaveLength(1);

    // Without retries nothing is added: the caller's request goes as written.
    keys.length = 0;
    const plain = new SmsqClient({ baseUrl: api.base, apiKey: KEY_A, fetch: losing });
    await plain.send({ to: phone(8), body: "plain" });
    expect(keys).toEqual([null]);
  });

  it("maps a 400 with its field, a 401, and a 404 to SmsqApiError", async () => {
    const bad = await apiError(client.send({ to: "12345", body: "x" }));
    expect(bad).toMatchObject({ status: 400, code: "invalid_phone", field: "to" });
    expect(bad.message).toMatch(/to is not a valid phone number/);
    expect(isApiError(bad, "invalid_phone")).toBe(true);
    expect(isApiError(bad, "not_found")).toBe(false);

    const unknown = await apiError(
      client.send({ to: phone(1), body: "x", colour: "red" } as unknown as Parameters<
        SmsqClient["send"]
      >[0]),
    );
    expect(unknown).toMatchObject({ status: 400, code: "unknown_field", field: "colour" });

    const anon = new SmsqClient({ baseUrl: api.base });
    expect(await apiError(anon.list())).toMatchObject({ status: 401, code: "unauthorized" });
    const wrong = new SmsqClient({ baseUrl: api.base, apiKey: "not-a-key" });
    expect(await apiError(wrong.get("msg_x"))).toMatchObject({ status: 401 });

    const missing = await apiError(client.get("msg_01KB7YQ3ZJ5V6X7W8Y9Z0A1B2C"));
    expect(missing).toMatchObject({ status: 404, code: "not_found", field: "id" });
    expect(missing.body).toEqual({ error: expect.objectContaining({ code: "not_found" }) });
  });

  it("batch: one entry per item in order, with created and replayed counts", async () => {
    const first = await client.batch([
      { to: phone(0), body: "a", idempotencyKey: "b-0" },
      { to: "nope", body: "b" },
      { to: phone(2), body: "c", idempotencyKey: "b-2" },
    ]);
    expect(first).toMatchObject({ created: 2, replayed: 0 });
    expect(first.data).toHaveLength(3);
    expect(message(first.data[0]).body).toBe("a");
    const refused = first.data[1];
    expect(refused && isBatchError(refused) && refused.error).toMatchObject({
      code: "invalid_phone",
      field: "messages[1].to",
    });

    const second = await client.batch([
      { to: phone(0), body: "a", idempotencyKey: "b-0" },
      { to: phone(3), body: "d", idempotencyKey: "b-3" },
    ]);
    expect(second).toMatchObject({ created: 1, replayed: 1 });
    expect(message(second.data[0]).id).toBe(message(first.data[0]).id);

    const tooMany = await apiError(client.batch([]));
    expect(tooMany).toMatchObject({ status: 400, code: "invalid_request", field: "messages" });
  });

  it("get, list (filters, cursor) and listAll over every page", async () => {
    const sent = await client.batch(
      Array.from({ length: 7 }, (_, i) => ({ to: phone(i), body: `m${i}` })),
    );
    const ids = sent.data.map((d) => message(d).id);
    const detail = await client.get(ids[0] as string);
    expect(detail).toMatchObject({ id: ids[0], body: "m0", attempts: [] });
    expect(detail.events.map((e) => e.type)).toEqual(["created"]);

    await client.cancel(ids[1] as string);
    const canceled = await client.list({ status: "canceled" });
    expect(canceled.data.map((m) => m.id)).toEqual([ids[1]]);
    const either = await client.list({ status: ["canceled", "queued"], limit: 500 });
    expect(either.data).toHaveLength(7);
    const byTo = await client.list({ to: "(415) 555-0103" });
    expect(byTo.data.map((m) => m.id)).toEqual([ids[3]]);
    expect((await client.list({ since: new Date(Date.now() + HOUR) })).data).toEqual([]);

    const page1 = await client.list({ limit: 3 });
    expect(page1.data).toHaveLength(3);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const page2 = await client.list({ limit: 3, cursor: page1.nextCursor as string });
    expect(page2.data[0]?.id).not.toBe(page1.data[0]?.id);

    const all: string[] = [];
    for await (const m of client.listAll({ limit: 2 })) all.push(m.id);
    expect(all).toHaveLength(7);
    expect(new Set(all)).toEqual(new Set(ids));

    const badStatus = await apiError(
      client.list({ status: "lost" as unknown as Message["status"] }),
    );
    expect(badStatus).toMatchObject({ status: 400, code: "invalid_request", field: "status" });
    expect(await apiError(client.list({ limit: 501 }))).toMatchObject({ field: "limit" });
  });

  it("cancel, then 409 invalid_state; retry and requeue of a failed message", async () => {
    const m = await client.send({ to: phone(0), body: "x" });
    expect((await client.cancel(m.id)).status).toBe("canceled");
    expect(await apiError(client.cancel(m.id))).toMatchObject({
      status: 409,
      code: "invalid_state",
    });

    const q = await client.send({ to: phone(1), body: "y" });
    expect(await apiError(client.retry(q.id))).toMatchObject({
      status: 409,
      code: "invalid_state",
    });
    expect(await apiError(client.retry("msg_01KB7YQ3ZJ5V6X7W8Y9Z0A1B2C"))).toMatchObject({
      status: 404,
    });
    const fail = (id: string) =>
      store.db.query(
        "update smsq.messages set status = 'failed', completed_at = now() where id = $1",
        [id],
      );
    await fail(q.id);
    expect((await client.retry(q.id)).status).toBe("queued");

    const r = await client.send({ to: phone(2), body: "z" });
    await fail(r.id);
    expect(await client.requeue({ dryRun: true })).toEqual({
      matched: 1,
      requeued: 0,
      dryRun: true,
      ids: [r.id],
    });
    expect(await client.requeue({ ids: [r.id] })).toMatchObject({ requeued: 1, ids: [r.id] });
    expect(await apiError(client.requeue({ statuses: ["queued"] }))).toMatchObject({
      status: 400,
      field: "statuses",
    });
  });

  it("suppressions: add, list, remove, and 404 for a number not on the list", async () => {
    const s = await client.suppressions.add({ phone: "(415) 555-0199", reason: "asked" });
    expect(s).toMatchObject({ phone: "+14155550199", reason: "asked", source: "api" });
    expect((await client.suppressions.add({ phone: "+14155550199" })).reason).toBe("asked");
    await client.suppressions.add({ phone: phone(5) });
    const page = await client.suppressions.list({ limit: 1 });
    expect(page.data).toHaveLength(1);
    const rest = await client.suppressions.list({ cursor: page.nextCursor as string });
    expect([...page.data, ...rest.data].map((x) => x.phone).sort()).toEqual(
      [phone(5), "+14155550199"].sort(),
    );
    const blocked = await client.send({ to: "+14155550199", body: "hi" });
    expect(blocked.to).toBe("+14155550199");

    await client.suppressions.remove("+14155550199");
    expect(await apiError(client.suppressions.remove("+14155550199"))).toMatchObject({
      status: 404,
      code: "not_found",
      field: "phone",
    });
    expect(await apiError(client.suppressions.add({ phone: "nope" }))).toMatchObject({
      status: 400,
      code: "invalid_phone",
      field: "phone",
    });
  });
});

describe("SmsqClient without a good answer", () => {
  it("throws SmsqNetworkError when nothing listens", async () => {
    const port = await freePort();
    const c = new SmsqClient({ baseUrl: `http://127.0.0.1:${port}` });
    const e = await c.get("msg_x").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SmsqNetworkError);
    expect(e).toMatchObject({ timedOut: false });
    expect((e as Error).message).toMatch(/cannot reach smsq at http:\/\/127\.0\.0\.1:\d+ \(.*\)/);
  });

  it("gives up after `timeout` ms with a timed-out SmsqNetworkError; a caller's abort is theirs", async () => {
    // Accepts connections and never answers.
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const { port } = server.address() as net.AddressInfo;
    try {
      const c = new SmsqClient({ baseUrl: `http://127.0.0.1:${port}`, timeout: 200 });
      const t0 = Date.now();
      const e = await c.list().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SmsqNetworkError);
      expect(e).toMatchObject({ timedOut: true });
      expect((e as Error).message).toMatch(/no answer from smsq .* within 200 ms/);
      expect(Date.now() - t0).toBeLessThan(5000);

      const ac = new AbortController();
      const pending = c.list({}, { signal: ac.signal }).catch((x: unknown) => x);
      ac.abort(new Error("mine"));
      expect(await pending).toEqual(new Error("mine"));
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  it("maps an answer that is not an smsq error body to code http_<status>", async () => {
    const c = new SmsqClient({
      baseUrl: "http://smsq.invalid",
      fetch: async () => new Response("<html>Bad Gateway</html>", { status: 502 }),
    });
    const e = await apiError(c.get("msg_x"));
    expect(e).toMatchObject({ status: 502, code: "http_502", field: undefined });
    expect(e.message).toBe("HTTP 502: <html>Bad Gateway</html>");
  });

  it("waits out 429/503 with Retry-After only when `retry` is on", async () => {
    const seen: { url: string; auth: string | null; key: string | null }[] = [];
    let answers: Response[] = [];
    const fetchStub = async (input: string | URL | Request, init?: RequestInit) => {
      const h = new Headers(init?.headers);
      seen.push({
        url: String(input),
        auth: h.get("authorization"),
        key: h.get("idempotency-key"),
      });
      const next = answers.shift();
      if (!next) throw new Error("no more answers");
      return next;
    };
    const busy = () =>
      new Response(JSON.stringify({ error: { code: "queue_full", message: "full" } }), {
        status: 429,
        headers: { "retry-after": "0", "content-type": "application/json" },
      });
    const ok = () =>
      new Response(JSON.stringify({ id: "msg_1" }), {
        status: 202,
        headers: { "content-type": "application/json" },
      });

    const plain = new SmsqClient({ baseUrl: "http://h/base", apiKey: "k", fetch: fetchStub });
    answers = [busy()];
    const e = await apiError(plain.send({ to: "x", body: "y" }, { idempotencyKey: "ik" }));
    expect(e).toMatchObject({ status: 429, code: "queue_full", retryAfter: 0 });
    expect(seen).toEqual([{ url: "http://h/base/v1/messages", auth: "Bearer k", key: "ik" }]);

    seen.length = 0;
    const patient = new SmsqClient({ baseUrl: "http://h", fetch: fetchStub, retry: true });
    answers = [busy(), new Response(null, { status: 503, headers: { "retry-after": "0" } }), ok()];
    expect(await patient.send({ to: "x", body: "y" })).toEqual({ id: "msg_1" });
    expect(seen).toHaveLength(3);

    // A Retry-After longer than maxDelayMs is not waited.
    const hasty = new SmsqClient({
      baseUrl: "http://h",
      fetch: fetchStub,
      retry: { attempts: 3, maxDelayMs: 500 },
    });
    answers = [new Response("{}", { status: 429, headers: { "retry-after": "60" } }), ok()];
    expect(await apiError(hasty.send({ to: "x", body: "y" }))).toMatchObject({ retryAfter: 60 });
    expect(answers).toHaveLength(1);
  });

  it("parses Retry-After as seconds or an HTTP date", () => {
    expect(parseRetryAfter("7")).toBe(7);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter("soon")).toBeUndefined();
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30);
    expect(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
  });
});
