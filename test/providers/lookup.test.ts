/**
 * Twilio reconciliation against the provider simulator: a message whose create timed out (the
 * simulator recorded it, then never answered) is found by To, From, body and time; anything
 * else is not found; failures are `{ error }` without secrets or the body.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { twilioLookup, type TwilioLookupOptions } from "../../src/providers/twilio-lookup.js";
import { createTwilio } from "../../src/providers/twilio.js";
import type { OutboundMessage, Provider } from "../../src/providers/types.js";
import {
  DEFAULT_TWILIO_ACCOUNT,
  startSimulator,
  type Simulator,
} from "../../src/simulator/index.js";

const FROM = "+14155550000";
const TO = "+14155552671";
const SID = DEFAULT_TWILIO_ACCOUNT.sid;
const TOKEN = DEFAULT_TWILIO_ACCOUNT.authToken;

let n = 0;
const message = (over: Partial<OutboundMessage> = {}): OutboundMessage => ({
  id: `msg_lookup_${++n}`,
  to: TO,
  from: null,
  body: `Your code is ${100000 + n}`,
  segments: 1,
  attempt: 1,
  validUntil: null,
  ...over,
});

const signal = () => AbortSignal.timeout(5000);

describe("twilioLookup against the simulator", () => {
  let sim: Simulator;
  let opts: TwilioLookupOptions;
  let twilio: Provider;
  let hanging: Provider;

  beforeAll(async () => {
    sim = await startSimulator({ port: 0 });
    opts = {
      accountSid: SID,
      auth: { username: SID, password: TOKEN },
      from: FROM,
      baseUrl: sim.url,
      timeoutMs: 5000,
    };
    const make = (timeoutMs: number) =>
      createTwilio({
        account: "twilio",
        accountSid: SID,
        auth: { username: SID, password: TOKEN },
        from: FROM,
        baseUrl: sim.url,
        statusCallbackUrl: null,
        timeoutMs,
      });
    twilio = make(5000);
    hanging = make(200);
  });
  afterAll(async () => {
    await sim?.close();
  });
  beforeEach(() => {
    sim.reset();
    sim.configure({ rate5xx: 0, rateTimeout: 0, rateDrop: 0, rate429: 0, rules: [] });
  });

  /** Sends `m` with the timeout fault: the simulator records it, the adapter gives up. */
  async function ambiguousSend(m: OutboundMessage): Promise<{ sid: string; startedAt: Date }> {
    sim.configure({ rateTimeout: 1 });
    const startedAt = new Date();
    const res = await hanging.send(m, signal());
    sim.configure({ rateTimeout: 0 });
    expect(res).toMatchObject({ ok: false, ambiguous: true });
    const entry = sim.log().find((e) => e.body === m.body);
    expect(entry).toMatchObject({ outcome: "created", response: "timeout" });
    return { sid: entry?.id as string, startedAt };
  }

  it("finds a message whose create timed out, with its sid and status", async () => {
    const m = message();
    const { sid, startedAt } = await ambiguousSend(m);
    expect(sid).toMatch(/^SM[0-9a-f]{32}$/);
    const res = await twilioLookup(
      opts,
      { to: m.to, from: null, body: m.body, sentAfter: startedAt },
      signal(),
    );
    // The simulator delivers it soon after: whichever status it has reached by now.
    expect(res).toEqual({
      found: true,
      providerMessageId: sid,
      providerStatus: expect.stringMatching(/^(queued|sent|delivered)$/),
    });
  });

  it("finds it with an explicit From and without any From", async () => {
    const m = message({ from: "+14155550001" });
    const { sid, startedAt } = await ambiguousSend(m);
    const q = { to: m.to, body: m.body, sentAfter: startedAt };
    expect(await twilioLookup(opts, { ...q, from: "+14155550001" }, signal())).toMatchObject({
      found: true,
      providerMessageId: sid,
    });
    // No sender at all (a Messaging Service): only To filters.
    expect(
      await twilioLookup({ ...opts, from: null }, { ...q, from: null }, signal()),
    ).toMatchObject({ found: true, providerMessageId: sid });
    // The account's default sender did not send it.
    expect(await twilioLookup(opts, { ...q, from: null }, signal())).toEqual({ found: false });
  });

  it("does not find a different body, recipient or an older message", async () => {
    const m = message();
    const { startedAt } = await ambiguousSend(m);
    const q = { to: m.to, from: null, body: m.body, sentAfter: startedAt };
    expect(await twilioLookup(opts, { ...q, body: m.body + "!" }, signal())).toEqual({
      found: false,
    });
    expect(await twilioLookup(opts, { ...q, to: "+14155552672" }, signal())).toEqual({
      found: false,
    });
    // Created more than a minute before the attempt: another message, not this one.
    const later = new Date(startedAt.getTime() + 61_000);
    expect(await twilioLookup(opts, { ...q, sentAfter: later }, signal())).toEqual({
      found: false,
    });
    // Within the minute of skew it still counts.
    const skewed = new Date(startedAt.getTime() + 30_000);
    expect(await twilioLookup(opts, { ...q, sentAfter: skewed }, signal())).toMatchObject({
      found: true,
    });
  });

  it("follows next_page_uri, up to three pages", async () => {
    const m = message();
    const { sid, startedAt } = await ambiguousSend(m);
    const q = { to: m.to, from: null, body: m.body, sentAfter: startedAt };
    // 60 newer messages to the same number push it onto the second page of 50.
    for (let i = 0; i < 60; i++) {
      const r = await twilio.send(message({ body: `other ${i}` }), signal());
      expect(r.ok).toBe(true);
    }
    expect(await twilioLookup(opts, q, signal())).toMatchObject({
      found: true,
      providerMessageId: sid,
    });
    // 100 more push it onto the fourth page: not looked at.
    for (let i = 0; i < 100; i++) await twilio.send(message({ body: `more ${i}` }), signal());
    expect(await twilioLookup(opts, q, signal())).toEqual({ found: false });
  });

  /** A fake Twilio answering every request with `answer(url)`; returns its base URL. */
  async function fake(
    answer: (url: string) => { status?: number; json: unknown },
    run: (base: string, urls: string[]) => Promise<void>,
  ): Promise<void> {
    const urls: string[] = [];
    const server = http.createServer((req, res) => {
      urls.push(req.url ?? "");
      const a = answer(req.url ?? "");
      res.writeHead(a.status ?? 200, { "content-type": "application/json" });
      res.end(JSON.stringify(a.json));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const { port } = server.address() as AddressInfo;
      await run(`http://127.0.0.1:${port}`, urls);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }

  it("sends Twilio's filter syntax, percent-encoded", async () => {
    await fake(
      () => ({ json: { messages: [], next_page_uri: null } }),
      async (base, urls) => {
        const res = await twilioLookup(
          { ...opts, baseUrl: base + "/" },
          { to: TO, from: null, body: "x", sentAfter: new Date("2026-03-01T00:00:30Z") },
          signal(),
        );
        expect(res).toEqual({ found: false });
        expect(urls).toEqual([
          `/2010-04-01/Accounts/${SID}/Messages.json?To=%2B14155552671&From=%2B14155550000` +
            "&DateSent%3E=2026-02-28&PageSize=50",
        ]);
      },
    );
  });

  it("follows a next page only on the provider's own host", async () => {
    await fake(
      () => ({ json: { messages: [], next_page_uri: "http://elsewhere.invalid/page2" } }),
      async (base, urls) => {
        const q = { to: TO, from: null, body: "x", sentAfter: new Date() };
        expect(await twilioLookup({ ...opts, baseUrl: base }, q, signal())).toEqual({
          found: false,
        });
        expect(urls).toHaveLength(1);
      },
    );
  });

  it("answers { error } for a 2xx that is not a message list", async () => {
    await fake(
      () => ({ json: { hello: "world" } }),
      async (base) => {
        const q = { to: TO, from: null, body: "x", sentAfter: new Date() };
        expect(await twilioLookup({ ...opts, baseUrl: base }, q, signal())).toHaveProperty("error");
      },
    );
  });

  it("answers { error } for a 5xx, without the body it looked for", async () => {
    await fake(
      () => ({ status: 503, json: { code: 20503, message: "Service unavailable: my body text" } }),
      async (base) => {
        const q = { to: TO, from: null, body: "my body text", sentAfter: new Date() };
        const res = await twilioLookup({ ...opts, baseUrl: base }, q, signal());
        expect(res).toHaveProperty("error");
        const text = (res as { error: string }).error;
        expect(text).toMatch(/503 20503/);
        expect(text).not.toContain("my body text");
      },
    );
  });

  it("answers { error } for an unreachable provider", async () => {
    const res = await twilioLookup(
      { ...opts, baseUrl: "http://127.0.0.1:1", connectTimeoutMs: 2000 },
      { to: TO, from: null, body: "secret body text", sentAfter: new Date() },
      signal(),
    );
    expect(res).toHaveProperty("error");
    const text = (res as { error: string }).error;
    expect(text).toMatch(/ECONNREFUSED/);
    expect(text).not.toContain("secret body text");
  });

  it("answers { error } for bad credentials, without the token", async () => {
    const password = "wrong-token-1234567890";
    const res = await twilioLookup(
      { ...opts, auth: { username: SID, password } },
      { to: TO, from: null, body: "hello there", sentAfter: new Date() },
      signal(),
    );
    expect(res).toHaveProperty("error");
    const text = (res as { error: string }).error;
    expect(text).toMatch(/401/);
    expect(text).not.toContain(password);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain(Buffer.from(`${SID}:${password}`).toString("base64"));
  });

  it("answers { error } when aborted", async () => {
    const q = { to: TO, from: null, body: "hello there", sentAfter: new Date() };
    expect(await twilioLookup(opts, q, AbortSignal.abort())).toHaveProperty("error");
  });
});
