/**
 * The HTTP API under random and malformed requests, over real HTTP: random methods and paths
 * under /v1 (every route, odd segments and %-escapes, random query strings), random bodies
 * (any JSON, wrong types, invalid UTF-8) under random content types and API keys, huge
 * fields, odd Unicode. Never a 5xx; every error is {error: {code, message, field?}}; a refused
 * request stores nothing. test/api/bad-input.test.ts covers each known refusal one by one and
 * random message payloads on the two submit routes; this file covers everything around them.
 */
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { countRows, ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import { errorOf, KEY_A, phone, startServer, submit, type Api, type Res } from "../api/http.js";

const VALID_ID = "msg_01ARZ3NDEKTSV4RRFFQ69G5FAV";

// ---- Generators ------------------------------------------------------------------------------

/** Text with the characters that break parsers and stores: NUL, BOM, bidi controls, lone surrogates. */
const oddChar = fc.constantFrom(
  "\u0000",
  "\u0007",
  "\ufeff",
  "\u200b",
  "\u202e",
  "\u2066",
  "\ufffe",
  "\uffff",
  "\ud800",
  "\udfff",
  "e\u0301",
  "👩‍👩‍👧",
  "🇺🇸",
  "٤١٥",
  "Ⅻ",
  "\u00a0",
  "\u2028",
  '"',
  "\\",
  "<script>",
  "%00",
  "${x}",
);
const oddText = fc.oneof(
  fc
    .array(fc.oneof(oddChar, fc.string({ maxLength: 3 })), { maxLength: 12 })
    .map((a) => a.join("")),
  fc.string({ unit: fc.nat(0xffff).map((n) => String.fromCharCode(n)), maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
);
const anyJson = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.anything({ maxDepth: 2, withBoxedValues: false }),
  fc.dictionary(
    fc.constantFrom(
      "to",
      "from",
      "body",
      "phone",
      "reason",
      "statuses",
      "ids",
      "limit",
      "dryRun",
      "messages",
      "metadata",
      "sendAt",
    ),
    fc.oneof(oddText, fc.jsonValue({ maxDepth: 2 })),
  ),
);

/** Percent-encodes `s` as UTF-8 (a lone surrogate becomes U+FFFD, as a browser sends it). */
const pct = (s: string) => encodeURIComponent(s.replace(/\p{Cs}/gu, "\ufffd"));

/** A path segment: ids, numbers, %-escapes good and bad, long ones, dots. */
const segment = fc.oneof(
  fc.constantFrom(
    VALID_ID,
    VALID_ID.toLowerCase(),
    "msg_",
    "+14155550100",
    "%2B14155550100",
    "14155550100",
    "%ZZ",
    "%",
    "%00",
    "%C0%AF",
    "%ED%A0%80",
    "%F0%9F%98%80",
    "%FF",
    "..",
    ".",
    "__proto__",
    "constructor",
    "x".repeat(600),
    "cancel",
    "retry",
    "batch",
    "requeue",
  ),
  fc.string({ maxLength: 12 }).map(pct),
  oddText.map(pct),
);
const route = fc.oneof(
  fc.constantFrom(
    "/v1/messages",
    "/v1/messages/batch",
    "/v1/messages/requeue",
    "/v1/suppressions",
    "/v1/accounts",
    "/v1/webhooks/twilio/status",
    "/v1/webhooks/twilio/inbound",
    "/v1/webhooks/dialpad",
    "/v1/",
    "/v1",
    "/v1//messages",
    "/V1/messages",
  ),
  segment.map((s) => `/v1/messages/${s}`),
  segment.map((s) => `/v1/messages/${s}/cancel`),
  segment.map((s) => `/v1/messages/${s}/retry`),
  segment.map((s) => `/v1/suppressions/${s}`),
  fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `/v1/${s.join("/")}`),
);
const query = fc.option(
  fc
    .array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom("status", "limit", "cursor", "since", "to", "page", "dryRun"),
          segment,
        ),
        fc.oneof(fc.constantFrom("queued", "0", "-1", "1e3", "500", "", "queued,sent"), segment),
      ),
      { maxLength: 3 },
    )
    .map((kv) => "?" + kv.map(([k, v]) => `${k}=${v}`).join("&")),
  { nil: "" },
);
const method = fc.oneof(
  { arbitrary: fc.constantFrom("GET", "POST"), weight: 4 },
  { arbitrary: fc.constantFrom("PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"), weight: 3 },
);
const contentType = fc.option(
  fc.constantFrom(
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "application/json; charset=utf-16",
    "application/json, text/plain",
    "text/plain",
    "text/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "application/jwt",
    "application/octet-stream",
    "",
    ";;;",
    "application/json; boundary=\u00ff",
  ),
  { nil: undefined },
);
const body = fc.option(
  fc.oneof(
    anyJson.map((v) => JSON.stringify(v) ?? "null"),
    oddText,
    // Bytes that are not UTF-8: overlong forms, bare continuation bytes, a cut sequence.
    fc
      .array(fc.constantFrom(0xc0, 0xaf, 0x80, 0xff, 0xfe, 0xed, 0xa0, 0xf0, 0x9f, 0x7b, 0x22), {
        maxLength: 16,
      })
      .map((b) => new Uint8Array(b)),
    fc.constantFrom('{"to":', "{", "[", '{"a":1}{"b":2}', "\ufeff{}", " ", "null"),
  ),
  { nil: undefined },
);
const apiKey = fc.oneof(
  { arbitrary: fc.constant<string | null>(KEY_A), weight: 6 },
  fc.constantFrom<string | null>(null, "", "test-key-c", KEY_A + " ", "Bearer " + KEY_A, "ü"),
);

interface Req {
  method: string;
  path: string;
  body?: string | Uint8Array;
  contentType?: string;
  key: string | null;
  headers?: Record<string, string>;
}

// ---- Tests -----------------------------------------------------------------------------------

describe.each(ENGINES)("HTTP API fuzzing (%s)", (engine) => {
  let store: TestStore;
  let api: Api;

  beforeAll(async () => {
    store = await openTestStore(engine);
    api = await startServer(store.db, { maxRequestBytes: 256 * 1024 });
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
  });
  beforeEach(async () => {
    await store.reset();
    // One message there, so routes on an existing id and "unchanged" on non-empty tables count.
    expect((await submit(api, { to: phone(9), body: "existing" })).status).toBe(202);
  });

  async function send(r: Req): Promise<Res<unknown>> {
    const headers: Record<string, string> = { ...r.headers };
    if (r.key !== null) {
      headers.authorization = r.key.startsWith("Bearer ") ? r.key : `Bearer ${r.key}`;
    }
    if (r.contentType !== undefined) headers["content-type"] = r.contentType;
    const withBody = r.body !== undefined && r.method !== "GET" && r.method !== "HEAD";
    const res = await fetch(api.base + r.path, {
      method: r.method,
      headers,
      body: withBody ? r.body : undefined,
    });
    const text = await res.text();
    let json: unknown;
    const isJson = (res.headers.get("content-type") ?? "").includes("application/json");
    // A HEAD answer has the GET's headers and no body.
    if (isJson && r.method !== "HEAD") json = JSON.parse(text);
    return { status: res.status, headers: res.headers, text, json };
  }

  /** Sends `r`; asserts no 5xx, the error shape on a 4xx, and no stored change on a refusal. */
  async function probe(r: Req): Promise<Res<unknown>> {
    const before = await countRows(store.db);
    const res = await send(r);
    const what = `${r.method} ${r.path.slice(0, 120)} → ${res.status} ${res.text.slice(0, 200)}`;
    expect(res.status, what).toBeLessThan(500);
    if (res.status >= 400) {
      if (r.method !== "HEAD") {
        const err = errorOf(res);
        if (err.field !== undefined) expect(typeof err.field, what).toBe("string");
      }
      expect(await countRows(store.db), what).toEqual(before);
    }
    return res;
  }

  it("random methods, paths, queries, bodies, content types and keys: no 5xx, errors in shape", async () => {
    const req = fc.record({
      method,
      path: fc.tuple(route, query).map(([p, q]) => p + q),
      body,
      contentType,
      key: apiKey,
    });
    await fc.assert(
      fc.asyncProperty(req, async (r) => {
        await probe(r);
      }),
      { numRuns: 150 },
    );
  });

  it("every POST route, wrong content types and random JSON: refused in shape, nothing stored", async () => {
    const post = fc.record({
      path: fc.constantFrom(
        "/v1/messages",
        "/v1/messages/batch",
        "/v1/messages/requeue",
        "/v1/suppressions",
        `/v1/messages/${VALID_ID}/cancel`,
        `/v1/messages/${VALID_ID}/retry`,
      ),
      json: anyJson,
      contentType: fc.constantFrom(
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/octet-stream",
      ),
    });
    await fc.assert(
      fc.asyncProperty(post, async ({ path, json, contentType: ct }) => {
        const res = await probe({
          method: "POST",
          path,
          body: JSON.stringify(json) ?? "null",
          contentType: ct,
          key: KEY_A,
        });
        // A body in another media type is never taken as JSON (an empty text/plain body is
        // "no body", which a route without a body may accept).
        expect(res.status, res.text).toBeGreaterThanOrEqual(400);
      }),
      { numRuns: 80 },
    );
  });

  it("huge fields and headers are refused in shape (400, 413), nothing stored", async () => {
    const big = fc
      .record({
        field: fc.constantFrom(
          "to",
          "from",
          "body",
          "metadata",
          "idempotency-key",
          "phone",
          "batch",
        ),
        size: fc.constantFrom(256, 10_000, 100_000, 300_000),
        ch: fc.constantFrom("1", "a", "ж", "😀", "\u0000"),
      })
      .map(({ field, size, ch }) => ({ field, s: ch.repeat(Math.ceil(size / ch.length)) }));
    await fc.assert(
      fc.asyncProperty(big, async ({ field, s }) => {
        const msg = { to: "+14155550100", body: "hello" };
        let r: Req;
        if (field === "idempotency-key") {
          // Under Node's 16 KiB header limit, which answers before any application code.
          r = {
            method: "POST",
            path: "/v1/messages",
            body: JSON.stringify(msg),
            contentType: "application/json",
            key: KEY_A,
            headers: { "idempotency-key": pct(s).slice(0, 8000) },
          };
        } else if (field === "phone") {
          r = {
            method: "POST",
            path: "/v1/suppressions",
            body: JSON.stringify({ phone: s }),
            contentType: "application/json",
            key: KEY_A,
          };
        } else if (field === "batch") {
          const messages = Array.from(
            { length: Math.min(2000, Math.ceil(s.length / 50)) },
            () => msg,
          );
          r = {
            method: "POST",
            path: "/v1/messages/batch",
            body: JSON.stringify({ messages }),
            contentType: "application/json",
            key: KEY_A,
          };
        } else {
          const value = field === "metadata" ? { k: s } : s;
          r = {
            method: "POST",
            path: "/v1/messages",
            body: JSON.stringify({ ...msg, [field]: value }),
            contentType: "application/json",
            key: KEY_A,
          };
        }
        const res = await probe(r);
        // 10,000 characters are beyond every field's limit (a batch of that size is fine).
        if (field !== "batch" && s.length >= 10_000) {
          expect([400, 413], res.text.slice(0, 200)).toContain(res.status);
        }
      }),
      { numRuns: 40 },
    );
  });

  it("odd Unicode in every field: refused in shape, or stored and read back exactly", async () => {
    const msg = fc.record(
      {
        to: fc.oneof(
          oddText,
          fc.constantFrom(
            "+1 415 555 0100",
            "٤١٥٥٥٥٠١٠٠",
            "+1\u202e4155550100",
            "\ufeff+14155550100",
          ),
        ),
        body: fc.oneof(oddText, fc.constant("hello")),
        from: oddText,
        priority: fc.oneof(oddText, fc.constantFrom("high", "normal", "low")),
        metadata: fc.dictionary(oddText, oddText, { maxKeys: 3 }),
      },
      { requiredKeys: ["to", "body"] },
    );
    await fc.assert(
      fc.asyncProperty(msg, async (m) => {
        const res = await probe({
          method: "POST",
          path: "/v1/messages",
          body: JSON.stringify(m),
          contentType: "application/json",
          key: KEY_A,
        });
        if (res.status !== 202) return;
        const created = res.json as { id: string; to: string; body: string; metadata: unknown };
        expect(created.to).toMatch(/^\+[1-9]\d{1,14}$/);
        const read = await send({ method: "GET", path: `/v1/messages/${created.id}`, key: KEY_A });
        const got = read.json as { body: string; metadata: unknown };
        expect(got.body).toBe(m.body);
        expect(got.metadata ?? undefined).toEqual(m.metadata);
      }),
      { numRuns: 80 },
    );
  });

  it("webhooks: random bodies and content types without a valid signature get 403, nothing stored", async () => {
    const hook = fc.record({
      path: fc.constantFrom(
        "/v1/webhooks/twilio/status",
        "/v1/webhooks/twilio/inbound",
        "/v1/webhooks/dialpad",
      ),
      body: fc.oneof(
        fc
          .dictionary(
            fc.constantFrom(
              "AccountSid",
              "MessageSid",
              "MessageStatus",
              "From",
              "Body",
              "__proto__",
              "constructor",
            ),
            oddText,
          )
          .map((p) => new URLSearchParams(p).toString()),
        oddText,
        fc.constantFrom("a.b.c", "eyJhbGciOiJub25lIn0.e30.", ""),
      ),
      contentType: fc.option(
        fc.constantFrom(
          "application/x-www-form-urlencoded",
          "application/json",
          "text/plain",
          "application/jwt",
        ),
        { nil: undefined },
      ),
      signature: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(hook, async (h) => {
        const headers: Record<string, string> = {};
        if (h.signature !== undefined) {
          headers["x-twilio-signature"] = h.signature.replace(/[^\x20-\x7e]/g, "");
        }
        const res = await probe({
          method: "POST",
          path: h.path,
          body: h.body,
          contentType: h.contentType,
          key: null,
          headers,
        });
        // No account is configured on this server: nothing can be verified.
        expect([400, 403, 413, 415], res.text.slice(0, 200)).toContain(res.status);
      }),
      { numRuns: 60 },
    );
  });
});
