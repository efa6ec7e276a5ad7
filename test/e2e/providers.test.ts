// smsq against the provider simulator speaking Twilio's and Dialpad's wire formats: messages
// end `delivered` through signed callbacks, each sent once; forged callbacks change nothing;
// an opted-out number is suppressed without a provider call.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { start, type Running } from "../../src/app.js";
import { loadConfig } from "../../src/config/index.js";
import { startSimulator, type Simulator } from "../../src/simulator/index.js";
import { twilioSignature } from "../../src/webhooks/twilio-signature.js";
import { waitFor } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";
import { freePort } from "../helpers/ports.js";
import { phone } from "../helpers/seed.js";

const SID = "AC" + "1".repeat(32);
const TOKEN = "twilio-auth-token-for-tests";
const DIALPAD_TOKEN = "dialpad-api-token-for-tests";
const DIALPAD_SECRET = "dialpad-webhook-secret";
const N = Number(process.env.SMSQ_TEST_PROVIDER_MESSAGES ?? 1000);

async function statuses(running: Running): Promise<Record<string, number>> {
  const rows = await running.db.query<{ status: string; n: number }>(
    "select status, count(*)::int as n from smsq.messages group by status",
  );
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

async function postBatch(running: Running, n: number, offset = 0): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 500) {
    const messages = Array.from({ length: Math.min(500, n - i) }, (_, j) => ({
      to: phone(offset + i + j),
      body: `Reminder ${offset + i + j}: your appointment is tomorrow`,
    }));
    const res = await fetch(`${running.url}/v1/messages/batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data: { id: string }[] };
    ids.push(...body.data.map((d) => d.id));
  }
  return ids;
}

describe("smsq with the simulator as Twilio", () => {
  let sim: Simulator;
  let running: Running;

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, twilio: { accounts: [{ sid: SID, authToken: TOKEN }] } });
    const port = await freePort();
    running = await start(
      loadConfig({
        SMSQ_PORT: String(port),
        SMSQ_PUBLIC_URL: `http://127.0.0.1:${port}`,
        TWILIO_ACCOUNT_SID: SID,
        TWILIO_AUTH_TOKEN: TOKEN,
        TWILIO_FROM: "+14155550000",
        // The simulator has no sender limit here; the limiter is tested in test/e2e/limits*.
        TWILIO_MPS: "10000",
        TWILIO_BASE_URL: sim.url,
        SMSQ_POLL_INTERVAL_MS: "20",
      }),
      { api: true, worker: true, log: silentLog, memory: true },
    );
  });
  afterAll(async () => {
    await running?.stop();
    await sim?.close();
  });
  afterEach(() => sim.reset());

  it(
    `delivers ${N} messages through signed status callbacks, each sent once`,
    { timeout: 120_000 },
    async () => {
      const ids = await postBatch(running, N);
      await waitFor(
        async () => ((await statuses(running)).delivered === N ? true : undefined),
        100_000,
        "all delivered",
      );
      const created = sim.log().filter((e) => e.outcome === "created");
      expect(created).toHaveLength(N);
      expect(new Set(created.map((e) => e.to)).size).toBe(N);
      const detail = (await (await fetch(`${running.url}/v1/messages/${ids[0]}`)).json()) as {
        events: { type: string; toStatus: string | null }[];
        providerMessageId: string;
      };
      expect(detail.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
      expect(detail.events.filter((e) => e.type === "receipt").map((e) => e.toStatus)).toContain(
        "delivered",
      );
    },
  );

  it("refuses forged, tampered and unsigned callbacks with 403 and changes nothing", async () => {
    const [id] = await postBatch(running, 1, 5000);
    const m = await waitFor(async () => {
      const r = (await (await fetch(`${running.url}/v1/messages/${id}`)).json()) as {
        status: string;
        providerMessageId: string | null;
      };
      return r.status === "delivered" ? r : undefined;
    });
    const url = `${running.url}/v1/webhooks/twilio/status`;
    const params = {
      AccountSid: SID,
      MessageSid: m.providerMessageId as string,
      MessageStatus: "undelivered",
      ErrorCode: "30003",
    };
    const send = (p: Record<string, string>, signature?: string) =>
      fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          ...(signature ? { "x-twilio-signature": signature } : {}),
        },
        body: new URLSearchParams(p).toString(),
      });
    expect((await send(params)).status).toBe(403);
    expect((await send(params, twilioSignature("wrong-token", url, params))).status).toBe(403);
    const signed = twilioSignature(TOKEN, url, params);
    expect((await send({ ...params, ErrorCode: "30005" }, signed)).status).toBe(403);
    const after = (await (await fetch(`${running.url}/v1/messages/${id}`)).json()) as {
      status: string;
      events: unknown[];
    };
    expect(after.status).toBe("delivered");
    // A correctly signed late `undelivered` is accepted but cannot move a delivered message back.
    expect((await send(params, signed)).status).toBe(204);
    const final = (await (await fetch(`${running.url}/v1/messages/${id}`)).json()) as {
      status: string;
    };
    expect(final.status).toBe("delivered");
  });

  it("suppresses a number that texted STOP: its next message ends suppressed with no provider call", async () => {
    const to = phone(7000);
    const status = await sim.inbound({
      provider: "twilio",
      account: SID,
      from: to,
      to: "+14155550000",
      body: "STOP",
      url: `${running.url}/v1/webhooks/twilio/inbound`,
    });
    expect(status).toBe(200);
    const list = (await (await fetch(`${running.url}/v1/suppressions`)).json()) as {
      data: { phone: string }[];
    };
    expect(list.data.map((s) => s.phone)).toContain(to);
    const res = await fetch(`${running.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ to, body: "hello" }),
    });
    const { id } = (await res.json()) as { id: string };
    await waitFor(async () => {
      const r = (await (await fetch(`${running.url}/v1/messages/${id}`)).json()) as {
        status: string;
      };
      return r.status === "suppressed" ? true : undefined;
    });
    expect(sim.log().filter((e) => e.to === to)).toHaveLength(0);
    // START lifts it.
    await sim.inbound({
      provider: "twilio",
      account: SID,
      from: to,
      to: "+14155550000",
      body: "START",
      url: `${running.url}/v1/webhooks/twilio/inbound`,
    });
    const after = (await (await fetch(`${running.url}/v1/suppressions`)).json()) as {
      data: { phone: string }[];
    };
    expect(after.data.map((s) => s.phone)).not.toContain(to);
  });
});

describe("smsq with the simulator as Dialpad", () => {
  let sim: Simulator;
  let running: Running;

  beforeAll(async () => {
    const port = await freePort();
    sim = await startSimulator({
      port: 0,
      dialpad: {
        accounts: [
          {
            apiToken: DIALPAD_TOKEN,
            webhookUrl: `http://127.0.0.1:${port}/v1/webhooks/dialpad`,
            webhookSecret: DIALPAD_SECRET,
          },
        ],
      },
    });
    running = await start(
      loadConfig({
        SMSQ_PORT: String(port),
        DIALPAD_API_TOKEN: DIALPAD_TOKEN,
        DIALPAD_FROM: "+14155550001",
        DIALPAD_RATE_PER_MINUTE: "1000000",
        DIALPAD_BASE_URL: sim.url,
        DIALPAD_WEBHOOK_SECRET: DIALPAD_SECRET,
        SMSQ_POLL_INTERVAL_MS: "20",
      }),
      { api: true, worker: true, log: silentLog, memory: true },
    );
  });
  afterAll(async () => {
    await running?.stop();
    await sim?.close();
  });

  it(
    `delivers ${N} messages through signed SMS events, each sent once`,
    { timeout: 120_000 },
    async () => {
      await postBatch(running, N);
      await waitFor(
        async () => ((await statuses(running)).delivered === N ? true : undefined),
        100_000,
        "all delivered",
      );
      const created = sim.log().filter((e) => e.outcome === "created");
      expect(created).toHaveLength(N);
      expect(new Set(created.map((e) => e.to)).size).toBe(N);
    },
  );

  it("refuses an unsigned or wrongly signed event with 403", async () => {
    const url = `${running.url}/v1/webhooks/dialpad`;
    const unsigned = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: 1, message_status: "failed", direction: "outbound" }),
    });
    expect(unsigned.status).toBe(403);
    const none =
      ['{"alg":"none","typ":"JWT"}', JSON.stringify({ id: 1, message_status: "failed" })]
        .map((p) => Buffer.from(p).toString("base64url"))
        .join(".") + ".";
    const forged = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/jwt" },
      body: none,
    });
    expect(forged.status).toBe(403);
  });
});
