// Throughput limits with an injected clock: the per-sender segment bucket (reject and queue
// modes) and Dialpad's rolling per-minute window (403 or 429).
import { afterEach, describe, expect, it } from "vitest";
import { startSimulator, type Simulator } from "../../src/simulator/index.js";
import { RollingWindow, SenderLimiter } from "../../src/simulator/limits.js";
import { dialpadSend, manualClock, startReceiver, twilioCreate } from "./helpers.js";

const msg = (From: string, Body = "hi") => ({ To: "+14155552671", From, Body });
const A = "+14155550001";
const B = "+14155550002";

let sim: Simulator | null = null;
afterEach(async () => {
  await sim?.close();
  sim = null;
});

async function statuses(s: Simulator, n: number, params: Record<string, string>) {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await twilioCreate(s, params)).status);
  return out;
}

describe("per-sender segment limit, reject mode", () => {
  it("accepts one second's worth at once, then what the refill allows", async () => {
    const clock = manualClock();
    sim = await startSimulator({
      port: 0,
      clock: clock.now,
      behaviour: { senderSegmentsPerSecond: 2, callbackDelayMs: 0 },
    });
    expect(await statuses(sim, 5, msg(A))).toEqual([201, 201, 429, 429, 429]);
    const rejected = await twilioCreate(sim, msg(A));
    expect(rejected.json).toMatchObject({ code: 20429, status: 429 });
    expect(await statuses(sim, 2, msg(B))).toEqual([201, 201]); // each sender has its own bucket
    clock.advance(499);
    expect(await statuses(sim, 1, msg(A))).toEqual([429]);
    clock.advance(1);
    expect(await statuses(sim, 2, msg(A))).toEqual([201, 429]);
    clock.advance(10_000); // refill stops at one second's worth
    expect(await statuses(sim, 3, msg(A))).toEqual([201, 201, 429]);
    const log = sim.log();
    expect(log.filter((e) => e.outcome === "created").length).toBe(7);
    await sim.drainCallbacks();
  });

  it("counts segments, and lets a long message through on a full bucket as debt", async () => {
    const clock = manualClock();
    sim = await startSimulator({
      port: 0,
      clock: clock.now,
      behaviour: { senderSegmentsPerSecond: 1, callbackDelayMs: 0 },
    });
    const three = msg(A, "x".repeat(153 * 2 + 1)); // 3 segments
    expect(await statuses(sim, 2, three)).toEqual([201, 429]);
    clock.advance(2_999);
    expect(await statuses(sim, 1, msg(A))).toEqual([429]);
    clock.advance(1);
    expect(await statuses(sim, 2, msg(A))).toEqual([201, 429]);
    expect(sim.log()[0]?.segments).toBe(3);
  });

  it("is off with null and can be changed at run time", async () => {
    const clock = manualClock();
    sim = await startSimulator({ port: 0, clock: clock.now, behaviour: { callbackDelayMs: 0 } });
    expect(await statuses(sim, 5, msg(A))).toEqual([201, 201, 201, 201, 201]);
    sim.configure({ senderSegmentsPerSecond: 1 });
    expect(await statuses(sim, 2, msg(A))).toEqual([201, 429]);
  });
});

describe("per-sender segment limit, queue mode", () => {
  it("queues up to senderQueueSeconds, then answers 400/21611", async () => {
    const clock = manualClock();
    sim = await startSimulator({
      port: 0,
      clock: clock.now,
      behaviour: {
        senderSegmentsPerSecond: 1,
        senderLimitMode: "queue",
        senderQueueSeconds: 5,
        callbackDelayMs: 60_000,
      },
    });
    // One sent at once, five queued (1..5 s of backlog), the seventh would wait 6 s.
    expect(await statuses(sim, 7, msg(A))).toEqual([201, 201, 201, 201, 201, 201, 400]);
    const full = await twilioCreate(sim, msg(A));
    expect(full.json).toEqual({
      code: 21611,
      message: expect.any(String),
      more_info: "https://www.twilio.com/docs/errors/21611",
      status: 400,
    });
    clock.advance(1_000);
    expect(await statuses(sim, 2, msg(A))).toEqual([201, 400]);
  });

  it("delivers a queued message when its turn at the sender's rate comes", async () => {
    const rx = await startReceiver();
    const times: number[] = [];
    rx.answer = () => (times.push(Date.now()), 204);
    sim = await startSimulator({
      port: 0,
      behaviour: {
        senderSegmentsPerSecond: 10,
        senderLimitMode: "queue",
        senderQueueSeconds: 1,
        sentCallback: false,
        callbackDelayMs: 0,
      },
    });
    const t0 = Date.now();
    // Ten fit the bucket; the next three wait about 100, 200 and 300 ms.
    const st = await statuses(sim, 13, { ...msg(A), StatusCallback: rx.url });
    expect(st.every((s) => s === 201)).toBe(true);
    await sim.drainCallbacks();
    await rx.close();
    expect(times.length).toBe(13);
    expect(Math.max(...times) - t0).toBeGreaterThanOrEqual(280);
  });
});

describe("Dialpad per-minute limit", () => {
  const sms = { text: "hi", to_numbers: ["+14155552671"] };

  it("answers 403 'forbidden' over the limit, in a rolling 60 s window", async () => {
    const clock = manualClock();
    sim = await startSimulator({
      port: 0,
      clock: clock.now,
      behaviour: { dialpadRatePerMinute: 3, callbackDelayMs: 0 },
    });
    const st = [];
    for (let i = 0; i < 4; i++) st.push((await dialpadSend(sim, sms)).status);
    expect(st).toEqual([200, 200, 200, 403]);
    const over = await dialpadSend(sim, sms);
    expect(over.json).toEqual({
      error: {
        code: 403,
        errors: [{ domain: "global", message: expect.any(String), reason: "forbidden" }],
        message: expect.any(String),
      },
    });
    clock.advance(59_999);
    expect((await dialpadSend(sim, sms)).status).toBe(403);
    clock.advance(1);
    expect((await dialpadSend(sim, sms)).status).toBe(200);
    expect((await dialpadSend(sim, sms)).status).toBe(200);
    expect((await dialpadSend(sim, sms)).status).toBe(200);
    expect((await dialpadSend(sim, sms)).status).toBe(403);
    sim.configure({ dialpadLimitStatus: 429 });
    const r = await dialpadSend(sim, sms);
    expect(r.status).toBe(429);
    expect(r.json).toMatchObject({ error: { errors: [{ reason: "rateLimitExceeded" }] } });
  });
});

describe("limiter units", () => {
  it("a bucket below one segment per second still passes one message per period", () => {
    const clock = manualClock();
    const l = new SenderLimiter(clock.now);
    const take = () => l.take("s", 1, 0.5, "reject", 0).ok;
    expect(take()).toBe(true);
    clock.advance(1_999);
    expect(take()).toBe(false);
    clock.advance(1);
    expect(take()).toBe(true);
  });

  it("queue mode reports the wait", () => {
    const clock = manualClock();
    const l = new SenderLimiter(clock.now);
    expect(l.take("s", 2, 4, "queue", 10)).toEqual({ ok: true, waitMs: 0 });
    expect(l.take("s", 2, 4, "queue", 10)).toEqual({ ok: true, waitMs: 0 });
    expect(l.take("s", 2, 4, "queue", 10)).toEqual({ ok: true, waitMs: 500 });
    expect(l.take("s", 40, 4, "queue", 10)).toEqual({ ok: false, reason: "queue_full" });
  });

  it("the rolling window forgets events older than the window", () => {
    const clock = manualClock();
    const w = new RollingWindow(clock.now, 1_000);
    expect([w.tryTake("k", 2), w.tryTake("k", 2), w.tryTake("k", 2)]).toEqual([true, true, false]);
    clock.advance(500);
    expect(w.tryTake("other", 2)).toBe(true);
    clock.advance(500);
    expect([w.tryTake("k", 2), w.tryTake("k", 2), w.tryTake("k", 2)]).toEqual([true, true, false]);
  });
});
