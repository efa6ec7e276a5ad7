// The Twilio and Dialpad adapters against a minimal real HTTP server answering in each
// provider's wire format (fact sheet §A, §B): the request they send, and every outcome class.
// (The full provider simulator and its contract suite live elsewhere.)
import { describe, expect, it } from "vitest";
import { createDialpad } from "../../src/providers/dialpad.js";
import { createAgent } from "../../src/providers/http.js";
import { createTwilio } from "../../src/providers/twilio.js";
import type { OutboundMessage, Provider, SendResult } from "../../src/providers/types.js";
import { destroy, hang, json, useFakeServer } from "./server.js";

const srv = useFakeServer();

const TOKEN = "auth-token-0123456789abcdef";
const BODY = "Your secret code is 424242, do not share";
const SID = "AC0123456789abcdef0123456789abcdef";
const msg = (over: Partial<OutboundMessage> = {}): OutboundMessage => ({
  id: "msg_1",
  to: "+14155552671",
  from: null,
  body: BODY,
  segments: 1,
  attempt: 1,
  validUntil: null,
  ...over,
});
const never = () => new AbortController().signal;

/** Every result must be free of the credentials and the message body. */
const results: SendResult[] = [];
async function send(p: Provider, m: OutboundMessage = msg(), signal = never()) {
  const r = await p.send(m, signal);
  results.push(r);
  return r;
}

const twilioError = (status: number, code: number, message: string) =>
  json(status, {
    code,
    message,
    more_info: `https://www.twilio.com/docs/errors/${code}`,
    status,
  });

describe("twilio", () => {
  const agent = createAgent("http:", { maxSockets: 8 });
  const twilio = (over: Partial<Parameters<typeof createTwilio>[0]> = {}) =>
    createTwilio({
      account: "main",
      accountSid: SID,
      auth: { username: SID, password: TOKEN },
      from: "+14155550100",
      baseUrl: srv.base,
      statusCallbackUrl: "https://smsq.example/v1/webhooks/twilio/status",
      connectTimeoutMs: 200,
      timeoutMs: 200,
      agent,
      ...over,
    });
  const created = (over: Record<string, unknown> = {}) =>
    json(201, {
      sid: "SM0123456789abcdef0123456789abcdef",
      account_sid: SID,
      to: "+14155552671",
      from: "+14155550100",
      body: BODY,
      status: "queued",
      num_segments: "2",
      num_media: "0",
      direction: "outbound-api",
      error_code: null,
      error_message: null,
      price: null,
      ...over,
    });

  it("POSTs the form Twilio expects, with Basic auth", async () => {
    srv.handler = created();
    const r = await send(twilio(), msg({ attempt: 3 }));
    expect(r.ok).toBe(true);
    const req = srv.seen[0]!;
    expect(req.method).toBe("POST");
    expect(req.url).toBe(`/2010-04-01/Accounts/${SID}/Messages.json`);
    expect(req.headers.authorization).toBe(
      "Basic " + Buffer.from(`${SID}:${TOKEN}`).toString("base64"),
    );
    expect(req.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(Object.fromEntries(new URLSearchParams(req.body))).toEqual({
      To: "+14155552671",
      From: "+14155550100",
      Body: BODY,
      StatusCallback: "https://smsq.example/v1/webhooks/twilio/status",
      Attempt: "3",
    });
  });

  it("uses the message's from, else the Messaging Service; API key credentials", async () => {
    srv.handler = created();
    await send(twilio(), msg({ from: "+14155550199" }));
    expect(new URLSearchParams(srv.seen[0]!.body).get("From")).toBe("+14155550199");
    const ms = "MG0123456789abcdef0123456789abcdef";
    const keyed = twilio({
      from: null,
      messagingServiceSid: ms,
      statusCallbackUrl: null,
      auth: { username: "SKkey", password: TOKEN },
    });
    await send(keyed);
    const form = new URLSearchParams(srv.seen[1]!.body);
    expect(form.get("MessagingServiceSid")).toBe(ms);
    expect(form.has("From")).toBe(false);
    expect(form.has("StatusCallback")).toBe(false);
    expect(srv.seen[1]!.headers.authorization).toBe(
      "Basic " + Buffer.from(`SKkey:${TOKEN}`).toString("base64"),
    );
    const none = await send(twilio({ from: null }));
    expect(none).toMatchObject({ ok: false, code: "no_sender", retryable: false });
    expect(srv.seen).toHaveLength(2);
  });

  it("sends ValidityPeriod in whole seconds, clamped to 1..36000", async () => {
    srv.handler = created();
    const cases: [ms: number, expected: string][] = [
      [90_500, "90"],
      [300, "1"],
      [20 * 3600_000, "36000"],
    ];
    for (const [ms, expected] of cases) {
      srv.seen.length = 0;
      await send(twilio(), msg({ validUntil: new Date(Date.now() + ms) }));
      const got = Number(new URLSearchParams(srv.seen[0]!.body).get("ValidityPeriod"));
      // One second of slack for the time between building the message and sending it.
      expect(Number(expected) - got, String(ms)).toBeLessThanOrEqual(1);
      expect(got).toBeGreaterThanOrEqual(1);
      expect(got).toBeLessThanOrEqual(36000);
    }
  });

  it("does not call Twilio for a message whose validity has passed", async () => {
    srv.handler = created();
    const r = await send(twilio(), msg({ validUntil: new Date(Date.now() - 1) }));
    expect(r).toMatchObject({ ok: false, code: "expired", retryable: false, ambiguous: false });
    expect(srv.seen).toHaveLength(0);
  });

  it("201 and 200 are accepted: sid, status, segments", async () => {
    srv.handler = created();
    expect(await send(twilio())).toEqual({
      ok: true,
      providerMessageId: "SM0123456789abcdef0123456789abcdef",
      providerStatus: "queued",
      httpStatus: 201,
      segments: 2,
    });
    // Through a Messaging Service: `accepted`, num_segments "initially 0" → unknown.
    srv.handler = json(200, { sid: "SMx", status: "accepted", num_segments: "0" });
    expect(await send(twilio())).toEqual({
      ok: true,
      providerMessageId: "SMx",
      providerStatus: "accepted",
      httpStatus: 200,
    });
  });

  it("2xx without a sid is ambiguous", async () => {
    srv.handler = json(201, { status: "queued" });
    expect(await send(twilio())).toMatchObject({ ok: false, ambiguous: true, retryable: true });
  });

  it.each([
    [400, 21211, { retryable: false, ambiguous: false }],
    [400, 21612, { retryable: false, ambiguous: false }],
    [400, 21614, { retryable: false, ambiguous: false }],
    [400, 21617, { retryable: false, ambiguous: false }],
    [400, 21408, { retryable: false, ambiguous: false }],
    [401, 20003, { retryable: false, ambiguous: false }],
    [400, 21610, { retryable: false, ambiguous: false, optOut: true }],
    [400, 21611, { retryable: true, ambiguous: false, rateLimited: true }],
    [429, 20429, { retryable: true, ambiguous: false, rateLimited: true }],
    [500, 20500, { retryable: true, ambiguous: true }],
    [503, 20503, { retryable: true, ambiguous: true }],
  ])("HTTP %i code %i → %o", async (status, code, expected) => {
    srv.handler = twilioError(status, code, `Error ${code} about +14155552671`);
    const r = await send(twilio());
    expect(r).toMatchObject({ ok: false, httpStatus: status, code: String(code), ...expected });
    if (!r.ok) {
      expect(r.message).toContain(String(code));
      expect(r.retryAfterMs).toBeUndefined();
      if (!("rateLimited" in expected)) expect(r.rateLimited).toBeUndefined();
    }
  });

  it("429 with Retry-After in seconds or as an HTTP-date", async () => {
    srv.handler = twilioError(429, 20429, "Too Many Requests");
    const plain = await send(twilio());
    expect(plain).toMatchObject({ ok: false, rateLimited: true, retryable: true });
    expect(plain.ok === false && plain.retryAfterMs).toBeUndefined();

    srv.handler = json(429, { code: 20429, message: "Too Many Requests" }, { "retry-after": "7" });
    expect(await send(twilio())).toMatchObject({ retryAfterMs: 7000, rateLimited: true });

    const at = new Date(Date.now() + 30_000).toUTCString();
    srv.handler = json(429, { code: 20429, message: "Too Many Requests" }, { "retry-after": at });
    const dated = await send(twilio());
    expect(dated.ok).toBe(false);
    if (!dated.ok) {
      expect(dated.retryAfterMs).toBeGreaterThan(27_000);
      expect(dated.retryAfterMs).toBeLessThanOrEqual(30_000);
    }
  });

  it("a 5xx with a non-JSON body is ambiguous, coded by HTTP status", async () => {
    srv.handler = (_q, res) => {
      res.writeHead(502, { "content-type": "text/html", "retry-after": "2" });
      res.end(`<html>Bad gateway ${BODY}</html>`);
    };
    expect(await send(twilio())).toMatchObject({
      ok: false,
      httpStatus: 502,
      code: "502",
      ambiguous: true,
      retryable: true,
      retryAfterMs: 2000,
    });
  });

  it("never puts the token or the body into a message, even if the server echoes them", async () => {
    srv.handler = twilioError(400, 21211, `bad request ${BODY} with token ${TOKEN}`);
    const r = await send(twilio());
    expect(r.ok === false && r.message).toContain("[redacted]");
  });

  it("a server that never answers → timeout, ambiguous", async () => {
    srv.handler = hang;
    const started = Date.now();
    const r = await send(twilio());
    expect(r).toMatchObject({ ok: false, code: "timeout", ambiguous: true, retryable: true });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(srv.seen).toHaveLength(1);
  });

  it("a socket destroyed after the request was read → ECONNRESET, ambiguous", async () => {
    srv.handler = destroy;
    expect(await send(twilio())).toMatchObject({
      ok: false,
      httpStatus: null,
      code: "ECONNRESET",
      ambiguous: true,
      retryable: true,
    });
  });

  it("a closed port → connect phase: ECONNREFUSED, retryable, not ambiguous", async () => {
    const r = await send(twilio({ baseUrl: srv.closedPort }));
    expect(r).toMatchObject({ ok: false, code: "ECONNREFUSED", ambiguous: false, retryable: true });
  });

  it("waiting for a pooled socket past the connect timeout is not ambiguous", async () => {
    srv.handler = hang;
    const one = createAgent("http:", { maxSockets: 1 });
    const p = twilio({ agent: one, timeoutMs: 400, connectTimeoutMs: 100 });
    const [first, second] = await Promise.all([send(p), send(p)]);
    expect(first).toMatchObject({ code: "timeout", ambiguous: true });
    expect(second).toMatchObject({ code: "ETIMEDOUT", ambiguous: false, retryable: true });
    one.destroy();
  });

  it("the caller's AbortSignal: before connecting not ambiguous, after sending ambiguous", async () => {
    srv.handler = hang;
    const p = twilio({ timeoutMs: 5000 });
    const late = await send(p, msg(), AbortSignal.timeout(100));
    expect(late).toMatchObject({ ok: false, code: "timeout", ambiguous: true });
    const ac = new AbortController();
    ac.abort();
    const early = await send(p, msg(), ac.signal);
    expect(early).toMatchObject({ ok: false, code: "aborted", ambiguous: false });
    expect(srv.seen).toHaveLength(1);
  });

  it("never throws: a bad srv.base URL or an agent of the wrong protocol is a failure", async () => {
    const bad = await send(twilio({ baseUrl: "not a url" }));
    expect(bad).toMatchObject({ ok: false, ambiguous: false, retryable: true });
    const wrong = await send(twilio({ baseUrl: "https://127.0.0.1:1", agent }));
    expect(wrong).toMatchObject({ ok: false, ambiguous: false });
  });

  it("reuses keep-alive srv.connections", async () => {
    srv.handler = created();
    const before = srv.connections;
    for (let i = 0; i < 5; i++) expect((await send(twilio())).ok).toBe(true);
    expect(srv.connections - before).toBe(1);
  });
});

describe("dialpad", () => {
  const agent = createAgent("http:");
  const dialpad = (over: Partial<Parameters<typeof createDialpad>[0]> = {}) =>
    createDialpad({
      account: "dp",
      apiToken: "dialpad-api-token-xyz",
      from: "+14155550100",
      baseUrl: srv.base,
      connectTimeoutMs: 200,
      timeoutMs: 200,
      agent,
      ...over,
    });
  const sms = (over: Record<string, unknown> = {}) => ({
    id: 5889584726728704,
    created_date: 1767225600000,
    direction: "outbound",
    from_number: "+14155550100",
    to_numbers: ["+14155552671"],
    text: BODY,
    message_status: "pending",
    message_delivery_result: null,
    target_type: "user",
    ...over,
  });
  const googleError = (status: number, reason: string, message: string) =>
    json(status, {
      error: { code: status, errors: [{ domain: "global", message, reason }], message },
    });

  it("POSTs JSON with Bearer auth: text, to_numbers, from_number", async () => {
    srv.handler = json(200, sms());
    const r = await send(dialpad());
    expect(r).toEqual({
      ok: true,
      providerMessageId: "5889584726728704",
      providerStatus: "pending",
      httpStatus: 200,
    });
    const req = srv.seen[0]!;
    expect(req.method).toBe("POST");
    expect(req.url).toBe("/api/v2/sms");
    expect(req.headers.authorization).toBe("Bearer dialpad-api-token-xyz");
    expect(req.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(req.body)).toEqual({
      text: BODY,
      to_numbers: ["+14155552671"],
      from_number: "+14155550100",
    });
  });

  it("sends user_id when there is no from number", async () => {
    srv.handler = json(200, sms());
    await send(dialpad({ from: null, userId: "5047820488638464" }));
    expect(JSON.parse(srv.seen[0]!.body)).toEqual({
      text: BODY,
      to_numbers: ["+14155552671"],
      user_id: 5047820488638464,
    });
    const none = await send(dialpad({ from: null }));
    expect(none).toMatchObject({ ok: false, code: "no_sender", retryable: false });
  });

  it("keeps an id beyond 2^53 exact", async () => {
    srv.handler = (_q, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"id": 6543210987654321123, "message_status": "pending", "user_id": 1}');
    };
    expect(await send(dialpad())).toMatchObject({
      ok: true,
      providerMessageId: "6543210987654321123",
    });
  });

  it("429 → rate limited, with Retry-After", async () => {
    srv.handler = json(
      429,
      { error: { code: 429, message: "Too many requests" } },
      { "retry-after": "60" },
    );
    expect(await send(dialpad())).toMatchObject({
      ok: false,
      code: "429",
      rateLimited: true,
      retryable: true,
      ambiguous: false,
      retryAfterMs: 60_000,
    });
  });

  it("403 → probable rate limit: retryable, not ambiguous", async () => {
    srv.handler = googleError(403, "forbidden", "Forbidden");
    expect(await send(dialpad())).toMatchObject({
      ok: false,
      httpStatus: 403,
      code: "403",
      rateLimited: true,
      retryable: true,
      ambiguous: false,
    });
  });

  it("401 and other 4xx are not retryable; the envelope's message is kept", async () => {
    srv.handler = googleError(401, "unauthorized", "Invalid API key");
    expect(await send(dialpad())).toMatchObject({ ok: false, code: "401", retryable: false });
    srv.handler = googleError(400, "badRequest", "Invalid phone number: +1415");
    const r = await send(dialpad());
    expect(r).toMatchObject({ ok: false, code: "400", retryable: false, ambiguous: false });
    expect(r.ok === false && r.message).toBe("dialpad 400 badRequest: Invalid phone number: +1415");
  });

  it("5xx → ambiguous", async () => {
    srv.handler = (_q, res) => {
      res.writeHead(500);
      res.end("Internal Server Error");
    };
    expect(await send(dialpad())).toMatchObject({ code: "500", ambiguous: true, retryable: true });
  });

  it("timeout and reset are ambiguous; a closed port is not", async () => {
    srv.handler = hang;
    expect(await send(dialpad())).toMatchObject({ code: "timeout", ambiguous: true });
    srv.handler = destroy;
    expect(await send(dialpad())).toMatchObject({ code: "ECONNRESET", ambiguous: true });
    expect(await send(dialpad({ baseUrl: srv.closedPort }))).toMatchObject({
      code: "ECONNREFUSED",
      ambiguous: false,
      retryable: true,
    });
  });

  it("never leaks the token or body", async () => {
    srv.handler = googleError(400, "badRequest", `bad ${BODY} dialpad-api-token-xyz`);
    const r = await send(dialpad());
    expect(r.ok === false && r.message).toContain("[redacted]");
  });
});

// Last: every result any test above got is free of the credentials and the message body.
describe("all results", () => {
  it("contain no auth token, API token or message body", () => {
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) {
      const text = JSON.stringify(r);
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain("dialpad-api-token-xyz");
      expect(text).not.toContain(BODY);
    }
  });
});
