// Status webhooks over real HTTP, signed the way the providers sign: Twilio's signature made by
// the official `twilio` package, Dialpad's JWT by jose. Receipts are idempotent, order-free,
// held when they overtake the send's record, and a bad signature changes nothing.
import { SignJWT } from "jose";
import twilio from "twilio";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Account } from "../../src/config/accounts.js";
import { claimDue, recordOutcomes, type Outcome } from "../../src/store/dispatch.js";
import { applyHeldReceipts } from "../../src/store/receipts.js";
import { countRows, ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import { phone, seed } from "../helpers/seed.js";
import { startServer, type Api } from "./http.js";
import { twilioAccount } from "../helpers/accounts.js";

const SID = "AC" + "a".repeat(32);
const TOKEN = "twilio-token-for-webhook-tests";
const SECRET = "dialpad-secret-for-webhook-tests";
const PUBLIC = "https://sms.example.com";
const accounts: Account[] = [
  twilioAccount(SID, TOKEN),
  {
    kind: "dialpad",
    name: "dialpad",
    apiToken: "x",
    from: "+14155550001",
    senders: [],
    baseUrl: "http://127.0.0.1:9",
    webhookSecret: SECRET,
  },
];

function sent(id: string, provider: string, pid: string): Outcome {
  const t = new Date();
  return {
    messageId: id,
    status: "sent",
    providerMessageId: pid,
    attempt: {
      number: 1,
      provider,
      account: provider,
      outcome: "accepted",
      providerStatus: "queued",
      httpStatus: 201,
      startedAt: t,
      finishedAt: t,
    },
  };
}

describe.each(ENGINES)("webhooks (%s)", (engine) => {
  let store: TestStore;
  let api: Api;

  beforeAll(async () => {
    store = await openTestStore(engine);
    api = await startServer(store.db, { accounts, publicUrl: PUBLIC });
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
  });
  beforeEach(async () => {
    await store.reset();
  });

  /** Sends a Twilio callback to `path`, signed by the official package unless told otherwise. */
  const twilioPost = (
    path: string,
    params: Record<string, string>,
    token: string | null = TOKEN,
  ) => {
    const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
    if (token) {
      headers["x-twilio-signature"] = twilio.getExpectedTwilioSignature(
        token,
        PUBLIC + path,
        params,
      );
    }
    return fetch(api.base + path, {
      method: "POST",
      headers,
      body: new URLSearchParams(params).toString(),
    });
  };
  const status = (sid: string, s: string, extra: Record<string, string> = {}) =>
    twilioPost("/v1/webhooks/twilio/status", {
      AccountSid: SID,
      MessageSid: sid,
      MessageStatus: s,
      ...extra,
    });
  const get = async (id: string) =>
    (await (
      await fetch(`${api.base}/v1/messages/${id}`, {
        headers: { authorization: "Bearer test-key-a" },
      })
    ).json()) as {
      status: string;
      lastError: { code: string } | null;
      events: { type: string }[];
    };

  async function sentVia(provider: string, pid: string): Promise<string> {
    const [id] = await seed(store.db, 1);
    await claimDue(store.db, {
      workerId: "w",
      limit: 1,
      leaseMs: 60_000,
      accounts: [{ account: provider, provider, position: 0 }],
    });
    await recordOutcomes(store.db, "w", [sent(id as string, provider, pid)]);
    return id as string;
  }

  it("applies a signed Twilio status callback once, however often it comes", async () => {
    const id = await sentVia("twilio", "SM1");
    for (let i = 0; i < 3; i++) expect((await status("SM1", "delivered")).status).toBe(204);
    const m = await get(id);
    expect(m.status).toBe("delivered");
    expect(m.events.filter((e) => e.type === "receipt")).toHaveLength(1);
    // A late `sent` is acknowledged and changes nothing.
    expect((await status("SM1", "sent")).status).toBe(204);
    expect((await get(id)).status).toBe("delivered");
  });

  it("carries Twilio's error code into an undelivered message, and 30004 suppresses", async () => {
    const id = await sentVia("twilio", "SM2");
    expect((await status("SM2", "undelivered", { ErrorCode: "30004" })).status).toBe(204);
    const m = await get(id);
    expect(m.status).toBe("undelivered");
    expect(m.lastError?.code).toBe("30004");
    const sup = await store.db.query<{ phone: string }>("select phone from smsq.suppressions");
    expect(sup).toEqual([{ phone: phone(0) }]);
  });

  it("refuses unsigned, wrongly signed and unknown-account callbacks with 403, changing nothing", async () => {
    const id = await sentVia("twilio", "SM3");
    const params = { AccountSid: SID, MessageSid: "SM3", MessageStatus: "failed" };
    const before = await countRows(store.db);
    const bad = [
      await twilioPost("/v1/webhooks/twilio/status", params, null),
      await twilioPost("/v1/webhooks/twilio/status", params, "not-the-token"),
      await twilioPost("/v1/webhooks/twilio/status", {
        ...params,
        AccountSid: "AC" + "b".repeat(32),
      }),
    ];
    expect(bad.map((r) => r.status)).toEqual([403, 403, 403]);
    const body = (await bad[0]!.json()) as { error: { code: string } };
    expect(body.error.code).toBe("forbidden");
    expect(await countRows(store.db)).toEqual(before);
    expect((await get(id)).status).toBe("sent");
    expect(api.app.webhookStats.rejected).toMatchObject({
      missing_signature: 1,
      bad_signature: 1,
      unknown_account: 1,
    });
  });

  it("holds a receipt that arrives before the provider id is recorded, and acknowledges it", async () => {
    const [id] = await seed(store.db, 1);
    await claimDue(store.db, {
      workerId: "w",
      limit: 1,
      leaseMs: 60_000,
      accounts: [{ account: "twilio", provider: "twilio", position: 0 }],
    });
    expect((await status("SM4", "delivered")).status).toBe(204);
    expect((await get(id as string)).status).toBe("sending");
    await recordOutcomes(store.db, "w", [sent(id as string, "twilio", "SM4")]);
    expect(await applyHeldReceipts(store.db, "twilio", ["SM4"])).toBe(1);
    expect((await get(id as string)).status).toBe("delivered");
  });

  it("acknowledges a callback for an id it never sent", async () => {
    expect((await status("SM-never", "delivered")).status).toBe(204);
    expect(api.app.webhookStats.receipts.held).toBeGreaterThan(0);
  });

  it("applies a Dialpad SMS event signed HS256, and refuses other algorithms and secrets", async () => {
    const id = await sentVia("dialpad", "42");
    const event = {
      id: 42,
      direction: "outbound",
      message_status: "failed",
      message_delivery_result: "no_route",
    };
    const sign = (secret: string, alg = "HS256") =>
      new SignJWT(event).setProtectedHeader({ alg }).sign(new TextEncoder().encode(secret));
    const post = (body: string, type = "application/jwt") =>
      fetch(`${api.base}/v1/webhooks/dialpad`, {
        method: "POST",
        headers: { "content-type": type },
        body,
      });
    expect((await post(await sign("other-secret"))).status).toBe(403);
    expect((await post(await sign(SECRET, "HS512"))).status).toBe(403);
    expect((await post(JSON.stringify(event), "application/json")).status).toBe(403);
    expect((await post("")).status).toBe(403);
    expect((await get(id)).status).toBe("sent");
    // Whatever the content type says, the body is the JWT.
    expect((await post(await sign(SECRET), "text/plain")).status).toBe(200);
    const m = await get(id);
    expect(m.status).toBe("undelivered");
    expect(m.lastError?.code).toBe("no_route");
  });

  it("suppresses on an inbound STOP and lifts it on START", async () => {
    const from = phone(3);
    const inbound = (body: string) =>
      twilioPost("/v1/webhooks/twilio/inbound", {
        AccountSid: SID,
        From: from,
        To: "+14155550000",
        Body: body,
        MessageSid: "SMin",
      });
    const r = await inbound(" stop ");
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("<Response></Response>");
    expect(await store.db.query("select phone from smsq.suppressions")).toEqual([{ phone: from }]);
    await inbound("please stop texting me"); // not a single keyword: no change
    await inbound("START");
    expect(await store.db.query("select phone from smsq.suppressions")).toEqual([]);
  });
});
