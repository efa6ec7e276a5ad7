/**
 * Every bad request gets its 4xx with {error: {code, message, field}}, never a 500, and
 * leaves the store exactly as it was.
 */
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { countRows, ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import {
  call,
  DAY,
  errorOf,
  fromNow,
  HOUR,
  phone,
  startServer,
  submit,
  type Api,
  type CallOptions,
  type Res,
} from "./http.js";

const OK = { to: "+14155550100", body: "hello" };

interface Case {
  name: string;
  method?: string;
  path?: string;
  req: CallOptions;
  status: number;
  code: string;
  field?: string;
}

const IN_AN_HOUR = fromNow(HOUR);
const nested = (depth: number) => "[".repeat(depth) + "1" + "]".repeat(depth);

// prettier-ignore
const SUBMIT_CASES: Case[] = [
  // Numbers
  { name: "invalid number", req: { json: { ...OK, to: "12345" } }, status: 400, code: "invalid_phone", field: "to" },
  { name: "letters as number", req: { json: { ...OK, to: "call me" } }, status: 400, code: "invalid_phone", field: "to" },
  { name: "empty number", req: { json: { ...OK, to: "" } }, status: 400, code: "invalid_phone", field: "to" },
  { name: "number too long", req: { json: { ...OK, to: "1".repeat(65) } }, status: 400, code: "invalid_phone", field: "to" },
  { name: "sender too long", req: { json: { ...OK, from: "1".repeat(65) } }, status: 400, code: "invalid_phone", field: "from" },
  { name: "invalid sender", req: { json: { ...OK, from: "+1" } }, status: 400, code: "invalid_phone", field: "from" },
  { name: "sender with symbols", req: { json: { ...OK, from: "Acme!!" } }, status: 400, code: "invalid_phone", field: "from" },
  // Body
  { name: "empty body", req: { json: { ...OK, body: "" } }, status: 400, code: "invalid_body", field: "body" },
  { name: "whitespace body", req: { json: { ...OK, body: "  \n\t  " } }, status: 400, code: "invalid_body", field: "body" },
  { name: "NUL in body", req: { json: { ...OK, body: "a\u0000b" } }, status: 400, code: "invalid_body", field: "body" },
  { name: "unpaired surrogate in body", req: { json: { ...OK, body: "a\ud800b" } }, status: 400, code: "invalid_body", field: "body" },
  { name: "too many GSM segments", req: { json: { ...OK, body: "a".repeat(1531) } }, status: 400, code: "body_too_long", field: "body" },
  { name: "too many UCS-2 segments", req: { json: { ...OK, body: "ж".repeat(671) } }, status: 400, code: "body_too_long", field: "body" },
  { name: "body over 10000 characters", req: { json: { ...OK, body: "a".repeat(10001) } }, status: 400, code: "body_too_long", field: "body" },
  // Shape
  { name: "unknown field", req: { json: { ...OK, colour: "red" } }, status: 400, code: "unknown_field", field: "colour" },
  { name: "unknown field ending in a known name", req: { json: { ...OK, xpriority: "high" } }, status: 400, code: "unknown_field", field: "xpriority" },
  { name: "missing to", req: { json: { body: "hi" } }, status: 400, code: "invalid_request", field: "to" },
  { name: "missing body", req: { json: { to: OK.to } }, status: 400, code: "invalid_request", field: "body" },
  { name: "empty object", req: { json: {} }, status: 400, code: "invalid_request" },
  { name: "to as a number", req: { json: { ...OK, to: 14155550100 } }, status: 400, code: "invalid_request", field: "to" },
  { name: "to as null", req: { json: { ...OK, to: null } }, status: 400, code: "invalid_request", field: "to" },
  { name: "body as an array", req: { json: { ...OK, body: ["hi"] } }, status: 400, code: "invalid_request", field: "body" },
  { name: "from as an object", req: { json: { ...OK, from: {} } }, status: 400, code: "invalid_request", field: "from" },
  { name: "sendAt as a number", req: { json: { ...OK, sendAt: 1767225600000 } }, status: 400, code: "invalid_request", field: "sendAt" },
  // JSON itself
  { name: "malformed JSON", req: { raw: '{"to": "+14155550100", "body": ' }, status: 400, code: "invalid_json", field: "body" },
  { name: "trailing comma", req: { raw: '{"to": "+14155550100", "body": "x",}' }, status: 400, code: "invalid_json", field: "body" },
  { name: "__proto__ key", req: { raw: '{"to": "+14155550100", "body": "x", "__proto__": {"a": 1}}' }, status: 400, code: "invalid_json", field: "body" },
  { name: "empty request body", req: { raw: "" }, status: 400, code: "invalid_request", field: "body" },
  { name: "no body and no content type", req: {}, status: 400, code: "invalid_request", field: "body" },
  { name: "JSON array", req: { json: [OK] }, status: 400, code: "invalid_request", field: "body" },
  { name: "empty JSON array", req: { raw: "[]" }, status: 400, code: "invalid_request", field: "body" },
  { name: "JSON string", req: { json: "hello" }, status: 400, code: "invalid_request", field: "body" },
  { name: "JSON number", req: { raw: "42" }, status: 400, code: "invalid_request", field: "body" },
  { name: "JSON null", req: { raw: "null" }, status: 400, code: "invalid_request", field: "body" },
  { name: "JSON true", req: { raw: "true" }, status: 400, code: "invalid_request", field: "body" },
  // Dates
  { name: "sendAt not a date", req: { json: { ...OK, sendAt: "tomorrow" } }, status: 400, code: "invalid_date", field: "sendAt" },
  { name: "sendAt February 30th", req: { json: { ...OK, sendAt: "2030-02-30T10:00:00Z" } }, status: 400, code: "invalid_date", field: "sendAt" },
  { name: "sendAt without a zone", req: { json: { ...OK, sendAt: "2030-01-01T10:00:00" } }, status: 400, code: "invalid_date", field: "sendAt" },
  { name: "sendAt hour 24", req: { json: { ...OK, sendAt: "2030-01-01T24:00:00Z" } }, status: 400, code: "invalid_date", field: "sendAt" },
  { name: "sendAt date only", req: { json: { ...OK, sendAt: "2030-01-01" } }, status: 400, code: "invalid_date", field: "sendAt" },
  { name: "validUntil month 13", req: { json: { ...OK, validUntil: "2030-13-01T00:00:00Z" } }, status: 400, code: "invalid_date", field: "validUntil" },
  { name: "validUntil empty", req: { json: { ...OK, validUntil: "" } }, status: 400, code: "invalid_date", field: "validUntil" },
  // Schedules
  { name: "validUntil before sendAt", req: { json: { ...OK, sendAt: fromNow(2 * HOUR), validUntil: fromNow(HOUR) } }, status: 400, code: "invalid_schedule", field: "validUntil" },
  { name: "validUntil equal to sendAt", req: { json: { ...OK, sendAt: IN_AN_HOUR, validUntil: IN_AN_HOUR } }, status: 400, code: "invalid_schedule", field: "validUntil" },
  { name: "validUntil in the past", req: { json: { ...OK, validUntil: fromNow(-HOUR) } }, status: 400, code: "invalid_schedule", field: "validUntil" },
  { name: "sendAt over a year ahead", req: { json: { ...OK, sendAt: fromNow(400 * DAY) } }, status: 400, code: "invalid_schedule", field: "sendAt" },
  // Priority
  { name: "unknown priority", req: { json: { ...OK, priority: "urgent" } }, status: 400, code: "invalid_priority", field: "priority" },
  { name: "priority as a number", req: { json: { ...OK, priority: 1 } }, status: 400, code: "invalid_priority", field: "priority" },
  { name: "priority in capitals", req: { json: { ...OK, priority: "HIGH" } }, status: 400, code: "invalid_priority", field: "priority" },
  // Metadata
  { name: "metadata as a string", req: { json: { ...OK, metadata: "x" } }, status: 400, code: "invalid_metadata", field: "metadata" },
  { name: "metadata as an array", req: { json: { ...OK, metadata: [1, 2] } }, status: 400, code: "invalid_metadata", field: "metadata" },
  { name: "metadata as null", req: { json: { ...OK, metadata: null } }, status: 400, code: "invalid_metadata", field: "metadata" },
  { name: "metadata over 4 KiB", req: { json: { ...OK, metadata: { blob: "x".repeat(5000) } } }, status: 400, code: "invalid_metadata", field: "metadata" },
  { name: "metadata with NUL", req: { json: { ...OK, metadata: { a: "x\u0000" } } }, status: 400, code: "invalid_metadata", field: "metadata" },
  { name: "metadata key with NUL", req: { json: { ...OK, metadata: { "a\u0000": 1 } } }, status: 400, code: "invalid_metadata", field: "metadata" },
  { name: "metadata with an unpaired surrogate", req: { json: { ...OK, metadata: { a: ["\udc00"] } } }, status: 400, code: "invalid_metadata", field: "metadata" },
  { name: "metadata nested 200,000 deep", req: { raw: `{"to":"${OK.to}","body":"x","metadata":{"a":${nested(200_000)}}}` }, status: 400, code: "invalid_metadata", field: "metadata" },
  // Headers
  { name: "wrong content type", req: { raw: JSON.stringify(OK), headers: { "content-type": "text/plain" } }, status: 415, code: "unsupported_media_type", field: "Content-Type" },
  { name: "form content type", req: { raw: "to=%2B14155550100&body=hi", headers: { "content-type": "application/x-www-form-urlencoded" } }, status: 415, code: "unsupported_media_type", field: "Content-Type" },
  { name: "empty Idempotency-Key", req: { json: OK, headers: { "idempotency-key": "" } }, status: 400, code: "invalid_request", field: "idempotency-key" },
  { name: "Idempotency-Key over 255 characters", req: { json: OK, headers: { "idempotency-key": "k".repeat(256) } }, status: 400, code: "invalid_request", field: "idempotency-key" },
];

const validId = "msg_01ARZ3NDEKTSV4RRFFQ69G5FAV";
const badCursor = Buffer.from("not-a-message-id").toString("base64url");

// prettier-ignore
const READ_CASES: Case[] = [
  { name: "unknown id", method: "GET", path: `/v1/messages/${validId}`, req: {}, status: 404, code: "not_found", field: "id" },
  { name: "malformed id", method: "GET", path: "/v1/messages/nope", req: {}, status: 404, code: "not_found", field: "id" },
  { name: "over-long id", method: "GET", path: `/v1/messages/${"x".repeat(500)}`, req: {}, status: 404, code: "not_found" },
  { name: "bad %-escape in the path", method: "GET", path: "/v1/messages/%ZZ", req: {}, status: 400, code: "invalid_request" },
  { name: "cancel unknown id", method: "POST", path: `/v1/messages/${validId}/cancel`, req: {}, status: 404, code: "not_found", field: "id" },
  { name: "unknown route", method: "GET", path: "/v1/nothing-here", req: {}, status: 404, code: "not_found" },
  { name: "list: bad status", method: "GET", path: "/v1/messages?status=bogus", req: {}, status: 400, code: "invalid_request", field: "status" },
  { name: "list: one bad status of two", method: "GET", path: "/v1/messages?status=queued,bogus", req: {}, status: 400, code: "invalid_request", field: "status" },
  { name: "list: empty status", method: "GET", path: "/v1/messages?status=", req: {}, status: 400, code: "invalid_request", field: "status" },
  { name: "list: status given twice", method: "GET", path: "/v1/messages?status=queued&status=sent", req: {}, status: 400, code: "invalid_request", field: "status" },
  { name: "list: limit 0", method: "GET", path: "/v1/messages?limit=0", req: {}, status: 400, code: "invalid_request", field: "limit" },
  { name: "list: limit 501", method: "GET", path: "/v1/messages?limit=501", req: {}, status: 400, code: "invalid_request", field: "limit" },
  { name: "list: limit not a number", method: "GET", path: "/v1/messages?limit=ten", req: {}, status: 400, code: "invalid_request", field: "limit" },
  { name: "list: limit fractional", method: "GET", path: "/v1/messages?limit=1.5", req: {}, status: 400, code: "invalid_request", field: "limit" },
  { name: "list: limit negative", method: "GET", path: "/v1/messages?limit=-1", req: {}, status: 400, code: "invalid_request", field: "limit" },
  { name: "list: limit in exponent form", method: "GET", path: "/v1/messages?limit=1e2", req: {}, status: 400, code: "invalid_request", field: "limit" },
  { name: "list: limit empty", method: "GET", path: "/v1/messages?limit=", req: {}, status: 400, code: "invalid_request", field: "limit" },
  { name: "list: garbage cursor", method: "GET", path: "/v1/messages?cursor=%%%", req: {}, status: 400, code: "invalid_request", field: "cursor" },
  { name: "list: cursor of a non-id", method: "GET", path: `/v1/messages?cursor=${badCursor}`, req: {}, status: 400, code: "invalid_request", field: "cursor" },
  { name: "list: since not a date", method: "GET", path: "/v1/messages?since=yesterday", req: {}, status: 400, code: "invalid_date", field: "since" },
  { name: "list: since without a zone", method: "GET", path: "/v1/messages?since=2030-01-01T00:00:00", req: {}, status: 400, code: "invalid_date", field: "since" },
  { name: "list: bad to", method: "GET", path: "/v1/messages?to=12345", req: {}, status: 400, code: "invalid_phone", field: "to" },
  { name: "list: unknown parameter", method: "GET", path: "/v1/messages?page=2", req: {}, status: 400, code: "unknown_field", field: "page" },
];

describe.each(ENGINES)("bad input (%s)", (engine) => {
  let store: TestStore;
  let api: Api;
  let small: Api;
  let existingId: string;

  beforeAll(async () => {
    store = await openTestStore(engine);
    api = await startServer(store.db);
    small = await startServer(store.db, { maxRequestBytes: 2048 });
  });
  afterAll(async () => {
    await small?.close();
    await api?.close();
    await store?.close();
  });
  beforeEach(async () => {
    await store.reset();
    // One message already there, so "unchanged" compares non-empty tables too.
    const seeded = await submit(api, { to: phone(9), body: "existing" });
    expect(seeded.status).toBe(202);
    existingId = seeded.json.id;
  });

  /** Sends a request and checks that it is refused and changed nothing. */
  async function refused(c: Case, target: Api = api): Promise<Res<unknown>> {
    const before = await countRows(store.db);
    const res = await call(target, c.method ?? "POST", c.path ?? "/v1/messages", c.req);
    expect(res.status, res.text.slice(0, 300)).toBe(c.status);
    const err = errorOf(res);
    expect(err.code).toBe(c.code);
    if (c.field !== undefined) expect(err.field).toBe(c.field);
    expect(await countRows(store.db)).toEqual(before);
    return res;
  }

  it.each(SUBMIT_CASES)("POST /v1/messages: $name → $status $code", async (c) => {
    await refused(c);
  });

  it.each(READ_CASES)("$method $path: $name → $status $code", async (c) => {
    await refused(c);
  });

  it("names the bad field in the message", async () => {
    const res = await refused({
      name: "unknown field",
      req: { json: { ...OK, colour: "red" } },
      status: 400,
      code: "unknown_field",
      field: "colour",
    });
    expect(errorOf(res).message).toContain("colour");
  });

  it("refuses a request larger than maxRequestBytes with 413", async () => {
    await refused(
      {
        name: "too large",
        req: { json: { ...OK, metadata: { pad: "x".repeat(3000) } } },
        status: 413,
        code: "payload_too_large",
        field: "body",
      },
      small,
    );
    // The limit counts bytes, not characters.
    await refused(
      {
        name: "too large in bytes",
        req: { json: { ...OK, body: "€".repeat(700) } },
        status: 413,
        code: "payload_too_large",
      },
      small,
    );
    // A request under the limit still goes through on that server.
    const ok = await submit(small, OK);
    expect(ok.status).toBe(202);
  });

  it("cannot cancel or re-read through a malformed path and leaves the message alone", async () => {
    await refused({
      name: "cancel with bad id",
      path: `/v1/messages/${existingId.toLowerCase()}/cancel`,
      req: {},
      status: 404,
      code: "not_found",
    });
    const still = await call<{ status: string }>(api, "GET", `/v1/messages/${existingId}`);
    expect(still.json.status).toBe("queued");
  });

  it("accepts the boundary values next to the refused ones", async () => {
    // Guards the table above against passing because everything is refused.
    for (const input of [
      { ...OK, body: "a".repeat(1530) },
      { ...OK, body: "ж".repeat(670) },
      { ...OK, metadata: { blob: "x".repeat(4000) } },
      { ...OK, metadata: { a: JSON.parse(nested(100)) as unknown } },
      { ...OK, metadata: { emoji: "😀" } },
      { ...OK, sendAt: fromNow(365 * DAY) },
      { ...OK, sendAt: fromNow(HOUR), validUntil: fromNow(2 * HOUR) },
      { ...OK, priority: "low" },
      { ...OK, from: "12345" },
      { ...OK, to: " +1 (415) 555-0100 " },
    ]) {
      const res = await submit(api, input);
      expect(res.status, res.text.slice(0, 300)).toBe(202);
    }
    const list = await call(api, "GET", "/v1/messages?limit=500&status=queued,scheduled");
    expect(list.status).toBe(200);
  });

  it("never answers 5xx to random input, and a refusal stores nothing", async () => {
    const anyJson = fc.oneof(
      fc.anything({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null"),
      fc.object({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    );
    // ASCII, any code point, and any UTF-16 unit (so unpaired surrogates too).
    const text = fc.oneof(
      fc.string(),
      fc.string({ unit: "binary" }),
      fc.string({ unit: fc.nat(0xffff).map((n) => String.fromCharCode(n)) }),
    );
    const date = fc.oneof(
      text,
      fc
        .date({ min: new Date(Date.now() - 400 * DAY), max: new Date(Date.now() + 400 * DAY) })
        .map((d) => d.toISOString()),
    );
    // Mostly plausible messages, so that the property also covers the accepting path.
    const mostly = <T, U>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) =>
      fc.oneof({ arbitrary: good, weight: 4 }, { arbitrary: bad, weight: 1 });
    const messageLike = fc
      .tuple(
        fc.record(
          {
            to: mostly(
              fc.constantFrom("+14155550100", "(415) 555-0101", "+442079460958"),
              fc.oneof(text, fc.integer()),
            ),
            body: mostly(
              fc.string({ minLength: 1, maxLength: 200 }).map((b) => `m ${b}`),
              fc.oneof(text, fc.integer()),
            ),
            from: mostly(fc.constantFrom("Acme", "12345", "+14155550199"), text),
            sendAt: mostly(
              fc.integer({ min: -30, max: 30 }).map((h) => fromNow(h * HOUR)),
              date,
            ),
            validUntil: mostly(
              fc.integer({ min: 2, max: 300 }).map((d) => fromNow(d * DAY)),
              date,
            ),
            priority: mostly(fc.constantFrom("high", "normal", "low"), text),
            metadata: mostly(
              fc.object({ maxDepth: 2 }),
              fc.oneof(
                fc.jsonValue({ maxDepth: 2 }),
                // Keys and strings with any UTF-16 unit: NUL and unpaired surrogates too.
                fc.object({ maxDepth: 2, key: text, values: [text, fc.integer()] }),
              ),
            ),
          },
          { requiredKeys: ["to", "body"] },
        ),
        mostly(fc.constant({}), fc.record({ extra: fc.jsonValue({ maxDepth: 1 }) })),
      )
      .map(([m, extra]) => JSON.stringify({ ...m, ...extra }));
    const raw = fc.oneof(anyJson, text, messageLike, messageLike, messageLike);
    const idempotencyKey = fc.option(fc.stringMatching(/^[A-Za-z0-9-]{0,20}$/), { nil: undefined });
    const target = fc.constantFrom("/v1/messages", "/v1/messages/batch");

    await fc.assert(
      fc.asyncProperty(raw, idempotencyKey, target, async (body, key, path) => {
        const before = await countRows(store.db);
        const headers: Record<string, string> = key === undefined ? {} : { "idempotency-key": key };
        const wrapped = path.endsWith("/batch") ? `{"messages":[${body}]}` : body;
        const res = await call(api, "POST", path, { raw: wrapped, headers });
        expect(res.status, `${res.status} for ${wrapped.slice(0, 200)}: ${res.text}`).toBeLessThan(
          500,
        );
        const after = await countRows(store.db);
        if (res.status >= 400) {
          errorOf(res);
          expect(after).toEqual(before);
        } else if (path === "/v1/messages") {
          // 202 stored one message; 200 is a replay and stores nothing.
          expect(res.status === 202 || res.status === 200).toBe(true);
          const added = res.status === 202 ? 1 : 0;
          expect(after.messages).toBe((before.messages ?? 0) + added);
        } else {
          // One item per batch here: stored when it came back as a message, not when refused.
          expect(res.status).toBe(200);
          const [item] = (res.json as { data: { id?: string }[] }).data;
          const added = item?.id === undefined ? 0 : 1;
          if (added === 0) errorOf({ ...res, json: item });
          expect(after.messages).toBe((before.messages ?? 0) + added);
        }
      }),
      { numRuns: 100 },
    );
  });
});
