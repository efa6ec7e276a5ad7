import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { resendPolicies } from "../../src/app.js";
import { getMessage } from "../../src/store/messages.js";
import { resendUndelivered, DEFAULT_RESEND } from "../../src/store/resend.js";
import { ENGINES, useTestStore } from "../helpers/db.js";
import { seed } from "../helpers/seed.js";

describe.each(ENGINES)("re-sending after transient carrier outcomes (%s)", (engine) => {
  const store = useTestStore(engine);

  const undelivered = async (code: string, over = "") => {
    const [id] = await seed(store.db, 1);
    await store.db.query(
      `update smsq.messages set status = 'undelivered', account = 'twilio-main', attempts = 1,
              last_error_code = $2, completed_at = now() ${over} where id = $1`,
      [id, code],
    );
    return id as string;
  };

  it("requeues 30003 after the delay with a fresh budget, once; leaves permanent codes alone", async () => {
    const transient = await undelivered("30003");
    const permanent = await undelivered("30005");
    const short = await undelivered("30008", ", valid_until = now() + interval '10 minutes'");
    expect(await resendUndelivered(store.db, "twilio-main", DEFAULT_RESEND)).toBe(1);
    const m = await getMessage(store.db, transient);
    expect(m?.status).toBe("queued");
    expect(m?.retrying).toBe(true);
    const due = new Date(m?.nextAttemptAt as string).getTime() - Date.now();
    expect(due).toBeGreaterThan(3_500_000);
    expect(m?.events.at(-1)).toMatchObject({
      type: "resend",
      fromStatus: "undelivered",
      toStatus: "queued",
    });
    // Its own small budget: a second undelivered does not come back.
    await store.db.query(
      "update smsq.messages set status = 'undelivered', completed_at = now() where id = $1",
      [transient],
    );
    expect(await resendUndelivered(store.db, "twilio-main", DEFAULT_RESEND)).toBe(0);
    expect((await getMessage(store.db, permanent))?.status).toBe("undelivered");
    // An hour's wait would outlast its validity: no resend.
    expect((await getMessage(store.db, short))?.status).toBe("undelivered");
    // Another account's messages are not touched.
    expect(await resendUndelivered(store.db, "dialpad", DEFAULT_RESEND)).toBe(0);
  });
});

describe("resend policy from the configuration", () => {
  const env = {
    TWILIO_ACCOUNT_SID: "AC" + "0".repeat(32),
    TWILIO_AUTH_TOKEN: "t",
    TWILIO_FROM: "+14155550000",
    // The simulator has no sender limit here; the limiter is tested in test/e2e/limits*.
    TWILIO_MPS: "10000",
  };
  it("is off by default and per provider codes when switched on", () => {
    expect(resendPolicies(loadConfig(env))).toEqual({ twilio: null });
    expect(resendPolicies(loadConfig({ ...env, SMSQ_RESEND_UNDELIVERED: "true" }))).toEqual({
      twilio: { codes: ["30003", "30008"], afterMs: 3_600_000, max: 1 },
    });
  });
});
