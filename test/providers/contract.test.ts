// The provider contract: every real adapter, driven against the provider simulator (which
// speaks each provider's wire format), reports each kind of outcome the same typed way.
// A new adapter joins this table and must pass the same cases.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createDialpad } from "../../src/providers/dialpad.js";
import { createTwilio } from "../../src/providers/twilio.js";
import type { OutboundMessage, Provider, SendResult } from "../../src/providers/types.js";
import {
  DEFAULT_DIALPAD_ACCOUNT,
  DEFAULT_TWILIO_ACCOUNT,
  startSimulator,
  type Simulator,
} from "../../src/simulator/index.js";

interface AdapterCase {
  name: string;
  make(sim: Simulator, timeoutMs?: number): Provider;
  /** The code the simulator's 429 carries for this provider. */
  rateLimitCode: string;
}

const ADAPTERS: AdapterCase[] = [
  {
    name: "twilio",
    make: (sim, timeoutMs = 5000) =>
      createTwilio({
        account: "twilio",
        accountSid: DEFAULT_TWILIO_ACCOUNT.sid,
        auth: { username: DEFAULT_TWILIO_ACCOUNT.sid, password: DEFAULT_TWILIO_ACCOUNT.authToken },
        from: "+14155550000",
        baseUrl: sim.url,
        statusCallbackUrl: null,
        timeoutMs,
      }),
    rateLimitCode: "20429",
  },
  {
    name: "dialpad",
    make: (sim, timeoutMs = 5000) =>
      createDialpad({
        account: "dialpad",
        apiToken: DEFAULT_DIALPAD_ACCOUNT.apiToken,
        from: "+14155550000",
        baseUrl: sim.url,
        timeoutMs,
      }),
    rateLimitCode: "429",
  },
];

let n = 0;
const message = (to = "+14155552671"): OutboundMessage => ({
  id: `msg_contract_${++n}`,
  to,
  from: null,
  body: "Contract test message",
  segments: 1,
  attempt: 1,
  validUntil: null,
});
const send = (p: Provider, m = message()) => p.send(m, AbortSignal.timeout(10_000));
const failed = (r: SendResult) => {
  if (r.ok) throw new Error(`expected a failure, got ${JSON.stringify(r)}`);
  return r;
};

describe.each(ADAPTERS)("provider contract: $name", (adapter) => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ port: 0 });
  });
  afterAll(async () => {
    await sim.close();
  });
  beforeEach(() => {
    sim.reset();
    sim.configure({ rate5xx: 0, rateTimeout: 0, rateDrop: 0, rate429: 0, rules: [] });
  });

  it("accepts a message: a provider id the simulator knows, sent once", async () => {
    const r = await send(adapter.make(sim));
    if (!r.ok) throw new Error(JSON.stringify(r));
    expect(r.providerMessageId).toBeTruthy();
    const created = sim.log().filter((e) => e.outcome === "created");
    expect(created.map((e) => String(e.id))).toEqual([r.providerMessageId]);
  });

  it("reports a refused recipient as a permanent, unambiguous failure with the provider code", async () => {
    sim.configure({ rules: [{ toPattern: "^\\+14155559999$", at: "create", code: 21211 }] });
    const r = failed(await send(adapter.make(sim), message("+14155559999")));
    expect(r).toMatchObject({ retryable: false, ambiguous: false });
    expect(r.httpStatus).toBe(400);
    expect(sim.log().filter((e) => e.outcome === "created")).toHaveLength(0);
  });

  it("reports a rate limit as retryable and rate-limited, not ambiguous", async () => {
    sim.configure({ rate429: 1 });
    const r = failed(await send(adapter.make(sim)));
    expect(r).toMatchObject({
      retryable: true,
      ambiguous: false,
      rateLimited: true,
      httpStatus: 429,
    });
    expect(r.code).toBe(adapter.rateLimitCode);
  });

  it("reports a 5xx as retryable and ambiguous (the provider may have created it)", async () => {
    sim.configure({ rate5xx: 1 });
    const r = failed(await send(adapter.make(sim)));
    expect(r).toMatchObject({ retryable: true, ambiguous: true });
    expect(r.httpStatus).toBeGreaterThanOrEqual(500);
  });

  it("reports a timeout after sending as ambiguous", async () => {
    sim.configure({ rateTimeout: 1 });
    const r = failed(await send(adapter.make(sim, 300)));
    expect(r).toMatchObject({ retryable: true, ambiguous: true, httpStatus: null });
  });

  it("reports a dropped connection after sending as ambiguous", async () => {
    sim.configure({ rateDrop: 1 });
    const r = failed(await send(adapter.make(sim)));
    expect(r).toMatchObject({ retryable: true, ambiguous: true, httpStatus: null });
  });

  it("reports an unreachable provider as retryable and not ambiguous (nothing was sent)", async () => {
    const closed = await startSimulator({ port: 0 });
    await closed.close();
    const r = failed(await send(adapter.make(closed)));
    expect(r).toMatchObject({ retryable: true, ambiguous: false, httpStatus: null });
  });

  it("reports bad credentials as a permanent failure", async () => {
    const p =
      adapter.name === "twilio"
        ? createTwilio({
            account: "x",
            accountSid: DEFAULT_TWILIO_ACCOUNT.sid,
            auth: { username: DEFAULT_TWILIO_ACCOUNT.sid, password: "wrong-token" },
            from: "+14155550000",
            baseUrl: sim.url,
          })
        : createDialpad({
            account: "x",
            apiToken: "wrong-token",
            from: "+14155550000",
            baseUrl: sim.url,
          });
    const r = failed(await send(p));
    expect(r).toMatchObject({ retryable: false, httpStatus: 401 });
    expect(JSON.stringify(r)).not.toContain("wrong-token");
  });
});
