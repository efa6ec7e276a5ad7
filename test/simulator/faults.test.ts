// Injected faults: 429, 5xx before/after creating, timeouts, dropped connections, callback
// duplicates and disorder. The random source is scripted so each case is exact.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startSimulator, type Simulator } from "../../src/simulator/index.js";
import {
  dialpadSend,
  inFlight,
  scriptedRandom,
  startReceiver,
  twilioCreate,
  twilioGet,
  until,
  type Receiver,
} from "./helpers.js";

const send = { To: "+14155552671", From: "+14155550000", Body: "hello" };
let rx: Receiver;
let sim: Simulator | null = null;

beforeAll(async () => {
  rx = await startReceiver();
});
afterAll(() => rx.close());
afterEach(async () => {
  await sim?.close();
  sim = null;
  rx.received.length = 0;
});

async function start(values: number[], behaviour: Parameters<Simulator["configure"]>[0]) {
  sim = await startSimulator({
    port: 0,
    random: scriptedRandom(values),
    behaviour: { callbackDelayMs: 0, ...behaviour },
  });
  return sim;
}

const listTo = async (s: Simulator, to: string) =>
  (await twilioGet(s, `/Messages.json?To=${encodeURIComponent(to)}`)).json.messages as {
    sid: string;
  }[];

describe("create faults", () => {
  it("429 creates nothing", async () => {
    const s = await start([0.1], { rate429: 0.5 });
    const r = await twilioCreate(s, send);
    expect(r.status).toBe(429);
    expect(r.json).toMatchObject({ code: 20429, status: 429 });
    expect(await listTo(s, send.To)).toEqual([]);
    expect(s.log()[0]).toMatchObject({ outcome: "rejected", response: 429, code: 20429 });
    expect((await twilioCreate(s, send)).status).toBe(201); // next draw 0.99: no fault
  });

  it("5xx before creating leaves nothing; after creating leaves a listable message", async () => {
    const s = await start([0.1, 0.2, 0.1, 0.7], { rate5xx: 0.5 });
    const before = await twilioCreate(s, send);
    expect(before.status).toBe(500);
    expect(before.json).toEqual({
      code: 20500,
      message: "Internal Server Error",
      more_info: "https://www.twilio.com/docs/errors/20500",
      status: 500,
    });
    expect(await listTo(s, send.To)).toEqual([]);
    const after = await twilioCreate(s, { ...send, StatusCallback: rx.url });
    expect(after.status).toBe(500);
    const listed = await listTo(s, send.To);
    expect(listed.length).toBe(1);
    const [b, a] = s.log();
    expect(b).toMatchObject({ outcome: "rejected", response: 500, id: null });
    expect(a).toMatchObject({ outcome: "created", response: 500, id: listed[0]?.sid });
    await s.drainCallbacks();
    expect(rx.received.map((r) => r.form.MessageStatus)).toEqual(["sent", "delivered"]);
  });

  it("timeout records the message and never answers", async () => {
    const s = await start([0.1], { rateTimeout: 0.5 });
    const err = await twilioCreate(s, send, { signal: AbortSignal.timeout(150) }).catch(
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe("TimeoutError");
    expect((await listTo(s, send.To)).length).toBe(1);
    expect(s.log()[0]).toMatchObject({ outcome: "created", response: "timeout" });
  });

  it("drop destroys the connection, before or after creating", async () => {
    const s = await start([0.1, 0.2, 0.1, 0.7], { rateDrop: 0.5 });
    await expect(twilioCreate(s, send)).rejects.toThrow();
    expect(await listTo(s, send.To)).toEqual([]);
    await expect(twilioCreate(s, send)).rejects.toThrow();
    expect((await listTo(s, send.To)).length).toBe(1);
    expect(s.log().map((e) => [e.outcome, e.response])).toEqual([
      ["rejected", "dropped"],
      ["created", "dropped"],
    ]);
  });

  it("applies to Dialpad sends too, in Dialpad's envelope", async () => {
    const s = await start([0.1, 0.7], { rate5xx: 0.5 });
    const r = await dialpadSend(s, { text: "hi", to_numbers: [send.To] });
    expect(r.status).toBe(500);
    expect(r.json).toMatchObject({ error: { code: 500, errors: [{ reason: "backendError" }] } });
    expect(s.log()[0]).toMatchObject({ provider: "dialpad", outcome: "created", response: 500 });
  });

  it("holds in-flight requests to the account concurrency limit", async () => {
    const s = await start([], { accountConcurrency: 3, latencyMs: 150 });
    const results = await Promise.all(
      Array.from({ length: 8 }, () => twilioCreate(s, send).then((r) => r.status)),
    );
    expect(results.filter((x) => x === 201).length).toBe(3);
    expect(results.filter((x) => x === 429).length).toBe(5);
    // Once they are answered the slots are free again.
    expect((await twilioCreate(s, send)).status).toBe(201);
  });

  it("a held (timed-out) request keeps its slot until the client gives up", async () => {
    const s = await start([0.1], { accountConcurrency: 1, rateTimeout: 0.5 });
    const ac = new AbortController();
    const held = twilioCreate(s, send, { signal: ac.signal }).catch(() => "aborted");
    await until(() => s.log().length === 1);
    expect(await inFlight(s)).toBe(1);
    expect((await twilioCreate(s, send)).status).toBe(429);
    ac.abort();
    expect(await held).toBe("aborted");
    await until(async () => (await inFlight(s)) === 0);
    expect((await twilioCreate(s, send)).status).toBe(201);
  });
});

describe("callback disorder", () => {
  it("duplicates every callback at rate 1", async () => {
    const s = await start([], { duplicateCallbackRate: 1 });
    await twilioCreate(s, { ...send, StatusCallback: rx.url });
    expect(s.pendingCallbacks()).toBe(4);
    await s.drainCallbacks();
    expect(rx.received.map((r) => r.form.MessageStatus)).toEqual([
      "sent",
      "sent",
      "delivered",
      "delivered",
    ]);
    // A copy carries the same idempotency token as the original.
    expect(rx.received[0]?.headers["i-twilio-idempotency-token"]).toBe(
      rx.received[1]?.headers["i-twilio-idempotency-token"],
    );
  });

  it("sends the final status before sent at rate 1; the message stays delivered", async () => {
    const s = await start([], { outOfOrderRate: 1 });
    const { json } = await twilioCreate(s, { ...send, StatusCallback: rx.url });
    await s.drainCallbacks();
    expect(rx.received.map((r) => r.form.MessageStatus)).toEqual(["delivered", "sent"]);
    const got = await twilioGet(s, `/Messages/${String(json.sid)}.json`);
    expect(got.json.status).toBe("delivered");
  });

  it("draws disorder per message from the random source", async () => {
    // Per message: out-of-order draw, then a duplicate draw per status.
    const s = await start([0.9, 0.1, 0.9], { outOfOrderRate: 0.5, duplicateCallbackRate: 0.5 });
    await twilioCreate(s, { ...send, StatusCallback: rx.url });
    await s.drainCallbacks();
    expect(rx.received.map((r) => r.form.MessageStatus)).toEqual(["sent", "sent", "delivered"]);
  });

  it("reset() cancels scheduled callbacks", async () => {
    const s = await start([], { callbackDelayMs: 10_000 });
    await twilioCreate(s, { ...send, StatusCallback: rx.url });
    expect(s.pendingCallbacks()).toBe(2);
    s.reset();
    expect(s.pendingCallbacks()).toBe(0);
    await s.drainCallbacks();
    expect(s.log()).toEqual([]);
  });
});
