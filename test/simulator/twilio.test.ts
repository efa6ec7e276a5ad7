// The simulated Twilio Messages API: auth, create, fetch, list, error shapes, signed callbacks.
import { createHmac } from "node:crypto";
import twilio from "twilio";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startSimulator, type Simulator } from "../../src/simulator/index.js";
import { twilioSignature } from "../../src/simulator/signing.js";
import {
  SID,
  TOKEN,
  basic,
  startReceiver,
  twilioCreate,
  twilioGet,
  type Receiver,
} from "./helpers.js";

const OTHER = "AC" + "1".repeat(32);
const KEY = { sid: "SK" + "2".repeat(32), secret: "key-secret" };

let sim: Simulator;
let rx: Receiver;

beforeAll(async () => {
  rx = await startReceiver();
  sim = await startSimulator({
    port: 0,
    twilio: {
      accounts: [
        { sid: SID, authToken: TOKEN, apiKeys: [KEY] },
        { sid: OTHER, authToken: "other-token" },
      ],
    },
    behaviour: { callbackDelayMs: 0 },
  });
});
afterAll(async () => {
  await sim.close();
  await rx.close();
});
beforeEach(() => {
  sim.reset();
  sim.configure({ sentCallback: true, rules: [], callbackRetryDelayMs: 250 });
  rx.received.length = 0;
  rx.answer = () => 204;
});

const send = { To: "+14155552671", From: "+14155550000", Body: "hello" };

/** The signature computed independently of the simulator's implementation. */
function expectedSignature(token: string, url: string, params: Record<string, string>) {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, k) => acc + k + params[k], url);
  return createHmac("sha1", token).update(data).digest("base64");
}

describe("auth", () => {
  it("rejects missing and wrong credentials with Twilio's 401 body", async () => {
    const expected = {
      code: 20003,
      message: "Authenticate",
      more_info: "https://www.twilio.com/docs/errors/20003",
      status: 401,
    };
    for (const auth of ["", basic(SID, "wrong"), basic(OTHER, "other-token"), "Bearer x"]) {
      const r = await twilioCreate(sim, send, { auth });
      expect(r.status, auth).toBe(401);
      expect(r.json).toEqual(expected);
    }
    expect((await twilioGet(sim, "/Messages.json")).status).toBe(200);
    const res = await fetch(`${sim.url}/2010-04-01/Accounts/${SID}/Messages.json`);
    expect(res.status).toBe(401);
    expect(sim.log().every((e) => e.outcome === "rejected" && e.code === 20003)).toBe(true);
  });

  it("accepts an API key of the account, and the other account its own token", async () => {
    expect((await twilioCreate(sim, send, { auth: basic(KEY.sid, KEY.secret) })).status).toBe(201);
    const r = await twilioCreate(sim, send, { account: OTHER, auth: basic(OTHER, "other-token") });
    expect(r.status).toBe(201);
    expect(r.json.account_sid).toBe(OTHER);
    const wrongAccount = await twilioCreate(sim, send, {
      account: OTHER,
      auth: basic(KEY.sid, KEY.secret),
    });
    expect(wrongAccount.status).toBe(401);
  });
});

describe("create, fetch and list", () => {
  it("answers 201 with the Message resource", async () => {
    const r = await twilioCreate(sim, { ...send, Body: "x".repeat(200), Attempt: "2" });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({
      account_sid: SID,
      to: send.To,
      from: send.From,
      messaging_service_sid: null,
      status: "queued",
      num_segments: "2",
      num_media: "0",
      direction: "outbound-api",
      date_sent: null,
      error_code: null,
      error_message: null,
      price: null,
      price_unit: "USD",
      api_version: "2010-04-01",
    });
    expect(r.json.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(r.json.date_created).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
    expect(r.json.uri).toBe(`/2010-04-01/Accounts/${SID}/Messages/${String(r.json.sid)}.json`);
    const [entry] = sim.log();
    expect(entry).toMatchObject({
      provider: "twilio",
      account: SID,
      id: r.json.sid,
      segments: 2,
      outcome: "created",
      response: 201,
      code: null,
    });
  });

  it("says accepted through a Messaging Service", async () => {
    const mg = "MG" + "a".repeat(32);
    const r = await twilioCreate(sim, { To: send.To, MessagingServiceSid: mg, Body: "hi" });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ status: "accepted", from: null, messaging_service_sid: mg });
  });

  it("fetches a message, and 404s an unknown one", async () => {
    const { json } = await twilioCreate(sim, send);
    await sim.drainCallbacks();
    const got = await twilioGet(sim, `/Messages/${String(json.sid)}.json`);
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ sid: json.sid, status: "delivered" });
    expect(got.json.date_sent).not.toBeNull();
    const missing = await twilioGet(sim, "/Messages/SM" + "f".repeat(32) + ".json");
    expect(missing.status).toBe(404);
    expect(missing.json).toMatchObject({ code: 20404, status: 404 });
    expect(Object.keys(missing.json).sort()).toEqual(["code", "message", "more_info", "status"]);
  });

  it("lists by To, From and DateSent, newest first, in pages", async () => {
    const sids: string[] = [];
    for (let i = 0; i < 5; i++) {
      sids.push(String((await twilioCreate(sim, { ...send, Body: `n${i}` })).json.sid));
    }
    await twilioCreate(sim, { ...send, To: "+14155559999" });
    const today = new Date().toISOString().slice(0, 10);
    const q = new URLSearchParams({ To: send.To, From: send.From, DateSent: today, PageSize: "3" });
    const page0 = await twilioGet(sim, `/Messages.json?${q}`);
    expect(page0.status).toBe(200);
    const msgs = page0.json.messages as { sid: string }[];
    expect(msgs.map((m) => m.sid)).toEqual([sids[4], sids[3], sids[2]]);
    expect(page0.json).toMatchObject({ page: 0, page_size: 3 });
    expect(page0.json.next_page_uri).toContain("Page=1");
    q.set("Page", "1");
    const page1 = await twilioGet(sim, `/Messages.json?${q}`);
    expect((page1.json.messages as { sid: string }[]).map((m) => m.sid)).toEqual([
      sids[1],
      sids[0],
    ]);
    expect(page1.json.next_page_uri).toBeNull();
    const yesterday = await twilioGet(sim, `/Messages.json?DateSent=2001-01-01`);
    expect(yesterday.json.messages).toEqual([]);
    const all = await twilioGet(sim, `/Messages.json?DateSent%3E=${today}`);
    expect((all.json.messages as unknown[]).length).toBe(6);
  });

  it("validates parameters with Twilio's codes", async () => {
    const cases: [Record<string, string>, number][] = [
      [{ From: send.From, Body: "x" }, 21604],
      [{ ...send, To: "4155552671" }, 21211],
      [{ To: send.To, Body: "x" }, 21603],
      [{ To: send.To, From: send.From }, 21602],
      [{ ...send, Body: "x".repeat(1601) }, 21617],
      [{ ...send, ValidityPeriod: "0" }, 20001],
      [{ ...send, ValidityPeriod: "36001" }, 20001],
      [{ ...send, Attempt: "zero" }, 20001],
      [{ ...send, StatusCallback: "not a url" }, 21609],
    ];
    for (const [params, code] of cases) {
      const r = await twilioCreate(sim, params);
      expect(r.status, JSON.stringify(params)).toBe(400);
      expect(r.json).toEqual({
        code,
        message: expect.any(String),
        more_info: `https://www.twilio.com/docs/errors/${code}`,
        status: 400,
      });
    }
    expect(sim.log().map((e) => e.code)).toEqual(cases.map(([, c]) => c));
    const ok = await twilioCreate(sim, { ...send, ValidityPeriod: "36000", Unknown: "ignored" });
    expect(ok.status).toBe(201);
  });

  it("applies create and delivery rules", async () => {
    sim.configure({
      rules: [
        { toPattern: "^\\+1415555000[1-2]$", at: "create", code: 21614 },
        { toPattern: "^\\+14155550003$", at: "create", code: 21408, status: 403 },
        { toPattern: "^\\+14155550004$", at: "delivery", code: 30003 },
      ],
    });
    const a = await twilioCreate(sim, { ...send, To: "+14155550002" });
    expect(a.status).toBe(400);
    expect(a.json.code).toBe(21614);
    const b = await twilioCreate(sim, { ...send, To: "+14155550003" });
    expect(b.status).toBe(403);
    const c = await twilioCreate(sim, { ...send, To: "+14155550004", StatusCallback: rx.url });
    expect(c.status).toBe(201);
    await sim.drainCallbacks();
    expect(rx.received.map((r) => [r.form.MessageStatus, r.form.ErrorCode])).toEqual([
      ["sent", undefined],
      ["undelivered", "30003"],
    ]);
    const got = await twilioGet(sim, `/Messages/${String(c.json.sid)}.json`);
    expect(got.json).toMatchObject({ status: "undelivered", error_code: 30003 });
  });
});

describe("status callbacks", () => {
  it("posts sent then delivered, signed as Twilio signs them", async () => {
    const url = `${rx.url}/hooks/twilio?tenant=a%20b&x=1`;
    const { json } = await twilioCreate(sim, { ...send, StatusCallback: url });
    expect(sim.pendingCallbacks()).toBe(2);
    await sim.drainCallbacks();
    expect(sim.pendingCallbacks()).toBe(0);
    expect(rx.received.map((r) => r.form.MessageStatus)).toEqual(["sent", "delivered"]);
    for (const r of rx.received) {
      expect(r.path).toBe("/hooks/twilio?tenant=a%20b&x=1");
      expect(r.headers["content-type"]).toBe("application/x-www-form-urlencoded");
      expect(r.form).toMatchObject({
        MessageSid: json.sid,
        SmsSid: json.sid,
        AccountSid: SID,
        From: send.From,
        To: send.To,
        SmsStatus: r.form.MessageStatus,
        ApiVersion: "2010-04-01",
      });
      const sig = r.headers["x-twilio-signature"];
      expect(sig).toBe(expectedSignature(TOKEN, url, r.form));
      expect(twilio.validateRequest(TOKEN, String(sig), url, r.form)).toBe(true);
      expect(twilio.validateRequest("wrong", String(sig), url, r.form)).toBe(false);
    }
  });

  it("signs array values like twilio-node", () => {
    const params = { b: ["2", "1", "2"], a: "x" };
    const ours = twilioSignature(TOKEN, "https://e.x/h", params);
    expect(twilio.validateRequest(TOKEN, ours, "https://e.x/h", params)).toBe(true);
    expect(ours).toBe(
      createHmac("sha1", TOKEN)
        .update("https://e.x/hax" + "b1b2")
        .digest("base64"),
    );
  });

  it("sends only the final status without sentCallback", async () => {
    sim.configure({ sentCallback: false });
    await twilioCreate(sim, { ...send, StatusCallback: rx.url });
    await sim.drainCallbacks();
    expect(rx.received.map((r) => r.form.MessageStatus)).toEqual(["delivered"]);
  });

  it("retries a callback answered 5xx, not one answered 4xx", async () => {
    sim.configure({ sentCallback: false, callbackRetryDelayMs: 5, callbackRetries: 2 });
    rx.answer = (n) => (n < 2 ? 503 : 204);
    await twilioCreate(sim, { ...send, StatusCallback: rx.url });
    await sim.drainCallbacks();
    expect(rx.received.length).toBe(3);
    const tokens = new Set(rx.received.map((r) => r.headers["i-twilio-idempotency-token"]));
    expect(tokens.size).toBe(1);

    rx.received.length = 0;
    rx.answer = () => 403;
    await twilioCreate(sim, { ...send, StatusCallback: rx.url });
    await sim.drainCallbacks();
    expect(rx.received.length).toBe(1);
  });

  it("gives up on an unreachable callback URL after the retries", async () => {
    sim.configure({ sentCallback: false, callbackRetryDelayMs: 5, callbackRetries: 1 });
    await twilioCreate(sim, { ...send, StatusCallback: "http://127.0.0.1:1/nothing" });
    await sim.drainCallbacks();
    expect(sim.pendingCallbacks()).toBe(0);
  });
});
