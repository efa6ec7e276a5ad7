// The simulated Dialpad /api/v2/sms: auth, send, error envelope, webhooks signed as HS256 JWTs.
import { decodeProtectedHeader, jwtVerify } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startSimulator, type Simulator } from "../../src/simulator/index.js";
import { dialpadSend, startReceiver, type Receiver } from "./helpers.js";

const SECRET = "hook-secret";
const TO = "+14155552671";
let sim: Simulator;
let rx: Receiver;

beforeAll(async () => {
  rx = await startReceiver();
  sim = await startSimulator({
    port: 0,
    dialpad: {
      accounts: [
        { apiToken: "tok-1", webhookUrl: `${rx.url}/dialpad`, webhookSecret: SECRET },
        { apiToken: "tok-2", webhookUrl: `${rx.url}/plain` },
        { apiToken: "tok-3" },
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
  sim.configure({ rules: [], sentCallback: true });
  rx.received.length = 0;
});

const envelope = (code: number, reason: string) => ({
  error: {
    code,
    errors: [{ domain: "global", message: expect.any(String), reason }],
    message: expect.any(String),
  },
});

const verify = async (body: string) =>
  (await jwtVerify(body, new TextEncoder().encode(SECRET), { algorithms: ["HS256"] })).payload;

describe("send", () => {
  it("rejects an unknown or missing token with 401", async () => {
    const r = await dialpadSend(sim, { text: "hi", to_numbers: [TO] }, "nope");
    expect(r.status).toBe(401);
    expect(r.json).toEqual(envelope(401, "unauthorized"));
    const bare = await fetch(`${sim.url}/api/v2/sms`, { method: "POST", body: "{}" });
    expect(bare.status).toBe(401);
    expect(sim.log().map((e) => [e.account, e.response])).toEqual([
      ["unknown", 401],
      ["unknown", 401],
    ]);
  });

  it("answers 200 with the SMSProto, by Bearer or ?apikey=", async () => {
    const r = await dialpadSend(
      sim,
      { text: "hello", to_numbers: [TO], from_number: "+14155550000" },
      "tok-3",
    );
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      direction: "outbound",
      from_number: "+14155550000",
      to_numbers: [TO],
      text: "hello",
      message_status: "pending",
      message_delivery_result: null,
      target_type: "user",
      device_type: "public_api",
    });
    expect(Number.isSafeInteger(r.json.id)).toBe(true);
    expect(typeof r.json.created_date).toBe("number");
    const viaQuery = await fetch(`${sim.url}/api/v2/sms?apikey=tok-3`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "q", to_numbers: [TO] }),
    });
    expect(viaQuery.status).toBe(200);
    expect(sim.log().map((e) => [e.account, e.id, e.outcome])).toEqual([
      ["dialpad-3", String(r.json.id), "created"],
      ["dialpad-3", expect.any(String), "created"],
    ]);
  });

  it("answers 400 in the envelope for bad input", async () => {
    const bad: unknown[] = [
      { to_numbers: [TO] },
      { text: "x", to_numbers: [] },
      { text: "x", to_numbers: ["4155552671"] },
      { text: "x", to_numbers: Array(11).fill(TO) },
      { text: "x", to_numbers: [TO], from_number: "abc" },
      [1, 2],
    ];
    for (const body of bad) {
      const r = await dialpadSend(sim, body, "tok-3");
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json).toEqual(envelope(400, "badRequest"));
    }
    const inferred = await dialpadSend(
      sim,
      { text: "x", to_numbers: ["(415) 555-2671"], infer_country_code: true },
      "tok-3",
    );
    expect(inferred.json.to_numbers).toEqual([TO]);
  });

  it("logs one entry per recipient and applies rules", async () => {
    sim.configure({
      rules: [{ toPattern: "^\\+1415555999", at: "create", code: "invalid_destination" }],
    });
    const r = await dialpadSend(sim, { text: "x", to_numbers: [TO, "+14155559999"] }, "tok-3");
    expect(r.status).toBe(400);
    expect(r.json).toEqual(envelope(400, "invalid_destination"));
    const ok = await dialpadSend(sim, { text: "x", to_numbers: [TO, "+14155550001"] }, "tok-3");
    expect(ok.status).toBe(200);
    expect(sim.log().map((e) => [e.to, e.outcome, e.code])).toEqual([
      [TO, "rejected", "invalid_destination"],
      ["+14155559999", "rejected", "invalid_destination"],
      [TO, "created", null],
      ["+14155550001", "created", null],
    ]);
  });
});

describe("SMS events", () => {
  it("posts pending then success as HS256 JWTs with the account's secret", async () => {
    const { json } = await dialpadSend(sim, { text: "hi", to_numbers: [TO] }, "tok-1");
    await sim.drainCallbacks();
    expect(rx.received.length).toBe(2);
    const payloads = [];
    for (const r of rx.received) {
      expect(r.path).toBe("/dialpad");
      expect(r.headers["content-type"]).toBe("application/jwt");
      expect(decodeProtectedHeader(r.body).alg).toBe("HS256");
      payloads.push(await verify(r.body));
    }
    expect(payloads.map((p) => [p.message_status, p.message_delivery_result])).toEqual([
      ["pending", null],
      ["success", "accepted"],
    ]);
    expect(payloads[1]).toMatchObject({
      id: json.id,
      direction: "outbound",
      to_number: [TO],
      target: { type: "user" },
    });
    expect(payloads[1]).not.toHaveProperty("text");
    expect(typeof payloads[1]?.event_timestamp).toBe("number");
    await expect(
      jwtVerify(rx.received[0]?.body ?? "", new TextEncoder().encode("wrong")),
    ).rejects.toThrow();
  });

  it("sends plain JSON without a secret, and failed with the rule's result", async () => {
    sim.configure({
      sentCallback: false,
      rules: [{ toPattern: "^\\+14155552671$", at: "delivery", code: "rejected_spam" }],
    });
    await dialpadSend(sim, { text: "hi", to_numbers: [TO] }, "tok-2");
    await sim.drainCallbacks();
    expect(rx.received.length).toBe(1);
    expect(rx.received[0]?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(rx.received[0]?.body ?? "")).toMatchObject({
      message_status: "failed",
      message_delivery_result: "rejected_spam",
    });
  });

  it("registers webhooks and SMS subscriptions at run time", async () => {
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${sim.url}${path}`, {
        method: "POST",
        headers: { authorization: "Bearer tok-3", "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const hook = await post("/api/v2/webhooks", { hook_url: `${rx.url}/runtime`, secret: SECRET });
    expect(hook.status).toBe(200);
    expect(hook.json).toMatchObject({
      hook_url: `${rx.url}/runtime`,
      signature: { algo: "HS256", secret: SECRET, type: "jwt" },
    });
    const quiet = await post("/api/v2/webhooks", { hook_url: `${rx.url}/quiet` });
    expect(quiet.json.signature).toBeNull();
    const sub = await post("/api/v2/subscriptions/sms", {
      endpoint_id: hook.json.id,
      direction: "outbound",
      status: true,
    });
    expect(sub.status).toBe(200);
    // Without status: true a subscription hears of a message only once.
    await post("/api/v2/subscriptions/sms", { endpoint_id: quiet.json.id, direction: "all" });
    const badSub = await post("/api/v2/subscriptions/sms", { endpoint_id: 1, direction: "all" });
    expect(badSub.status).toBe(400);

    await dialpadSend(sim, { text: "hi", to_numbers: [TO] }, "tok-3");
    await sim.drainCallbacks();
    const runtime = rx.received.filter((r) => r.path === "/runtime");
    expect(
      await Promise.all(runtime.map(async (r) => (await verify(r.body)).message_status)),
    ).toEqual(["pending", "success"]);
    const plain = rx.received.filter((r) => r.path === "/quiet");
    expect(
      plain.map((r) => (JSON.parse(r.body) as { message_status: string }).message_status),
    ).toEqual(["pending"]);
  });
});
