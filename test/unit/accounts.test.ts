import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/index.js";

const SID = "AC" + "0".repeat(32);
const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
};

describe("provider accounts from the environment", () => {
  it("uses the sandbox when no real credentials are configured", () => {
    const c = loadConfig({});
    expect(c.account).toEqual({ kind: "sandbox", name: "sandbox" });
    expect(c.accounts).toEqual([]);
  });

  it("uses Twilio, not the sandbox, once it is configured", () => {
    const c = loadConfig({
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: "t0ken",
      TWILIO_FROM: "+14155550000",
    });
    expect(c.account).toMatchObject({
      kind: "twilio",
      accountSid: SID,
      baseUrl: "https://api.twilio.com",
    });
  });

  it("accepts an API key pair instead of the auth token, but needs the token to verify callbacks", () => {
    const env = {
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_API_KEY_SID: "SK" + "1".repeat(32),
      TWILIO_API_KEY_SECRET: "secret",
      TWILIO_MESSAGING_SERVICE_SID: "MG" + "2".repeat(32),
    };
    expect(problems(env)).toEqual([]);
    expect(problems({ ...env, SMSQ_PUBLIC_URL: "https://sms.example.com" })).toEqual([
      expect.stringMatching(/^TWILIO_AUTH_TOKEN: required to verify Twilio status callbacks/),
    ]);
  });

  it("names each missing or wrong setting on its own line", () => {
    expect(problems({ TWILIO_ACCOUNT_SID: SID })).toEqual([
      expect.stringMatching(/^TWILIO_AUTH_TOKEN: required when TWILIO_ACCOUNT_SID is set/),
      expect.stringMatching(/^TWILIO_FROM: required when TWILIO_ACCOUNT_SID is set/),
    ]);
    expect(problems({ TWILIO_AUTH_TOKEN: "x" })).toEqual([
      "TWILIO_ACCOUNT_SID: required when other TWILIO_ settings are set",
    ]);
    expect(problems({ TWILIO_ACCOUNT_SID: "AC123" })[0]).toMatch(/^TWILIO_ACCOUNT_SID: must be AC/);
    expect(problems({ DIALPAD_API_TOKEN: "tok" })).toEqual([
      "DIALPAD_FROM: required when DIALPAD_API_TOKEN is set",
    ]);
    expect(problems({ DIALPAD_FROM: "+14155550000" })).toEqual([
      "DIALPAD_API_TOKEN: required when DIALPAD_FROM is set",
    ]);
    expect(problems({ SMSQ_PROVIDER: "dialpad" })).toEqual([
      "SMSQ_PROVIDER: dialpad is not configured",
    ]);
    expect(problems({ TWILIO_BASE_URL: "ftp://x" })[0]).toMatch(
      /^TWILIO_BASE_URL: must be an http/,
    );
  });

  it("never echoes a secret's value in a problem", () => {
    const lines = problems({ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: "has space secret" });
    expect(lines.join("\n")).not.toContain("has space secret");
  });

  it("picks the provider named by SMSQ_PROVIDER when both are configured", () => {
    const env = {
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: "t",
      TWILIO_FROM: "+14155550000",
      DIALPAD_API_TOKEN: "d",
      DIALPAD_FROM: "+14155550001",
    };
    expect(loadConfig(env).account.kind).toBe("twilio");
    expect(loadConfig({ ...env, SMSQ_PROVIDER: "dialpad" }).account.kind).toBe("dialpad");
    expect(loadConfig({ ...env, SMSQ_PROVIDER: "sandbox" }).account.kind).toBe("sandbox");
    expect(loadConfig(env).accounts.map((a) => a.name)).toEqual(["twilio", "dialpad"]);
  });

  it("builds a failover route from SMSQ_ROUTE, naming unknown or repeated accounts", () => {
    const env = {
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: "t",
      TWILIO_FROM: "+14155550000",
      DIALPAD_API_TOKEN: "d",
      DIALPAD_FROM: "+14155550001",
    };
    const c = loadConfig({ ...env, SMSQ_ROUTE: "dialpad, twilio" });
    expect(c.routeAccounts.map((a) => a.name)).toEqual(["dialpad", "twilio"]);
    expect(c.account.name).toBe("dialpad");
    expect(loadConfig(env).routeAccounts.map((a) => a.name)).toEqual(["twilio"]);
    expect(problems({ ...env, SMSQ_ROUTE: "twilio,nope,twilio" })).toEqual([
      'SMSQ_ROUTE: no account named "nope" is configured',
      'SMSQ_ROUTE: "twilio" is listed twice',
    ]);
  });
});
