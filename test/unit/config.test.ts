import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/index.js";
import { SETTINGS } from "../../src/config/settings.js";

const dir = mkdtempSync(join(tmpdir(), "smsq-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function configFile(content: unknown): string {
  const path = join(dir, `config-${n++}.json`);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

/** Runs loadConfig and returns the ConfigError problems (fails if it does not throw one). */
function problems(env: Record<string, string | undefined>, file: string | null = null): string[] {
  try {
    loadConfig(env, file);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const ce = e as ConfigError;
    expect(ce.code).toBe("config_invalid");
    expect(ce.message).toBe(ce.problems.join("\n"));
    return ce.problems;
  }
  throw new Error("expected a ConfigError");
}

const KEY_A = "a".repeat(16);
const KEY_B = "key-b-0123456789abcdef";

describe("loadConfig", () => {
  it("uses the documented defaults when the environment is empty", () => {
    const c = loadConfig({}, null);
    expect({ ...c }).toEqual({
      port: 8080,
      host: null,
      dataDir: "./.smsq",
      databaseUrl: null,
      apiKeys: [],
      defaultRegion: "US",
      maxSegments: 10,
      maxRequestBytes: 5 * 1024 * 1024,
      provider: null,
      route: [],
      publicUrl: null,
      twilioAccountSid: null,
      twilioAuthToken: null,
      twilioApiKeySid: null,
      twilioApiKeySecret: null,
      twilioFrom: null,
      twilioMessagingServiceSid: null,
      twilioBaseUrl: "https://api.twilio.com",
      dialpadApiToken: null,
      dialpadFrom: null,
      dialpadBaseUrl: "https://dialpad.com",
      dialpadWebhookSecret: null,
      sandboxLog: null,
      maxQueued: null,
      maxQueuedPerKey: null,
      batchSize: 50,
      concurrency: 200,
      pollMs: 250,
      leaseMs: 120_000,
      sendTimeoutMs: 30_000,
      maxAttempts: 5,
      inDoubtPolicy: null,
      alertWebhookUrl: null,
      resendUndelivered: false,
      dailySegmentBudget: null,
      twilioMps: null,
      twilioAccountMps: null,
      twilioSenders: [],
      twilioMaxInFlight: null,
      dialpadRatePerMinute: 100,
      dialpadRateWindowSeconds: 60,
      dialpadSenders: [],
      globalRate: null,
      rateHeadroom: 0.02,
      stickySenders: false,
      adaptiveRate: true,
      laneShares: { normal: 1, low: 1, cycle: 10 },
      alertQueueAgeMs: 300_000,
      alertDeadLetters: 100,
      retainBodiesDays: 30,
      retainHistoryDays: 90,
      retainMessagesDays: 0,
      retentionIntervalMs: 300_000,
      metricsPort: null,
      metricsPublic: false,
      logLevel: "info",
      logFormat: "json",
      source: { file: null },
      classOverrides: {},
      accounts: [],
      account: { kind: "sandbox", name: "sandbox" },
      routeAccounts: [{ kind: "sandbox", name: "sandbox" }],
    });
  });

  it("treats an empty variable as unset", () => {
    expect(loadConfig({ SMSQ_PORT: "", SMSQ_API_KEYS: "" }).port).toBe(8080);
  });

  it("parses values from the environment", () => {
    const c = loadConfig({
      SMSQ_PORT: "0",
      SMSQ_HOST: "::1",
      SMSQ_DATABASE_URL: "postgresql://u:p@db:5432/smsq",
      SMSQ_API_KEYS: ` ${KEY_A} , ${KEY_B},`,
      SMSQ_DEFAULT_REGION: "gb",
      SMSQ_MAX_SEGMENTS: "100",
      SMSQ_LOG_LEVEL: "debug",
    });
    expect(c.port).toBe(0);
    expect(c.host).toBe("::1");
    expect(c.databaseUrl).toBe("postgresql://u:p@db:5432/smsq");
    expect(c.apiKeys).toEqual([KEY_A, KEY_B]);
    expect(c.defaultRegion).toBe("GB");
    expect(c.maxSegments).toBe(100);
    expect(c.logLevel).toBe("debug");
  });

  it("reports every problem at once, one line per variable", () => {
    const p = problems({
      SMSQ_PORT: "abc",
      SMSQ_DATABASE_URL: "mysql://x",
      SMSQ_DEFAULT_REGION: "XX",
    });
    expect(p).toHaveLength(3);
    expect(p[0]).toMatch(/^SMSQ_PORT: /);
    expect(p[0]).toContain('"abc"');
    expect(p[1]).toMatch(/^SMSQ_DATABASE_URL: .*postgres/);
    expect(p[2]).toMatch(/^SMSQ_DEFAULT_REGION: /);
    expect(p[2]).toContain('"XX"');
    for (const line of p) expect(line).not.toContain("\n");
  });

  it.each([
    ["SMSQ_PORT", "65536"],
    ["SMSQ_PORT", "-1"],
    ["SMSQ_PORT", "80.5"],
    ["SMSQ_PORT", "1e3"],
    ["SMSQ_PORT", "0x50"],
    ["SMSQ_MAX_SEGMENTS", "0"],
    ["SMSQ_MAX_ATTEMPTS", "101"],
    ["SMSQ_HOST", "exa mple"],
    ["SMSQ_DATABASE_URL", "not a url"],
    ["SMSQ_PROVIDER", "twilio"],
    ["SMSQ_LOG_LEVEL", "verbose"],
    ["SMSQ_API_KEYS", ","],
  ])("refuses %s=%j", (name, value) => {
    const p = problems({ [name]: value });
    expect(p).toHaveLength(1);
    expect(p[0]?.startsWith(`${name}: `)).toBe(true);
  });

  it("refuses a short API key, naming which one", () => {
    const p = problems({ SMSQ_API_KEYS: `${KEY_A},short-key` });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^SMSQ_API_KEYS: .*key 2 .*16/);
    // 15 characters is still too short; 16 is enough.
    expect(problems({ SMSQ_API_KEYS: "b".repeat(15) })).toHaveLength(1);
    expect(loadConfig({ SMSQ_API_KEYS: "b".repeat(16) }).apiKeys).toEqual(["b".repeat(16)]);
  });

  it("does not leak an API key into the problem lines", () => {
    const p = problems({ SMSQ_API_KEYS: `${KEY_B},tiny` });
    expect(p.join("\n")).not.toContain(KEY_B);
  });

  it("reads a config file and lets the environment win", () => {
    const file = configFile({
      port: 9000,
      maxSegments: 4,
      apiKeys: [KEY_A, KEY_B],
      defaultRegion: "GB",
      host: null,
    });
    const c = loadConfig({}, file);
    expect(c.port).toBe(9000);
    expect(c.maxSegments).toBe(4);
    expect(c.apiKeys).toEqual([KEY_A, KEY_B]);
    expect(c.defaultRegion).toBe("GB");
    expect(c.host).toBeNull();
    expect(c.source).toEqual({ file });

    const both = loadConfig({ SMSQ_PORT: "9001", SMSQ_DEFAULT_REGION: "DE" }, file);
    expect(both.port).toBe(9001);
    expect(both.defaultRegion).toBe("DE");
    expect(both.maxSegments).toBe(4);
  });

  it("reports bad file values under the file key, and unknown keys", () => {
    const file = configFile({ port: "abc", colour: "blue", SMSQ_PORT: 80 });
    const p = problems({}, file);
    expect(p).toHaveLength(3);
    expect(p.filter((l) => l.includes('unknown setting "colour"'))).toHaveLength(1);
    expect(p.filter((l) => l.includes('unknown setting "SMSQ_PORT"'))).toHaveLength(1);
    const port = p.find((l) => l.startsWith("port (in "));
    expect(port).toBeDefined();
    expect(port).toContain(file);
    // An environment value replaces the bad file value, the unknown keys remain.
    expect(problems({ SMSQ_PORT: "80" }, file)).toHaveLength(2);
  });

  it("reports a file that is missing, not JSON or not an object", () => {
    for (const file of [
      join(dir, "missing.json"),
      configFile("{ port: 1 "),
      configFile("[1, 2]"),
      configFile("null"),
    ]) {
      const p = problems({}, file);
      expect(p).toHaveLength(1);
      expect(p[0]).toContain(file);
    }
  });

  it("every setting has a distinct env var and file key", () => {
    const specs = Object.values(SETTINGS);
    expect(new Set(specs.map((s) => s.env)).size).toBe(specs.length);
    expect(new Set(specs.map((s) => s.key)).size).toBe(specs.length);
    for (const s of specs) expect(s.env).toMatch(/^(SMSQ|TWILIO|DIALPAD)_[A-Z_]+$/);
  });

  it("returns a frozen object", () => {
    const c = loadConfig({ SMSQ_API_KEYS: KEY_A });
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => {
      (c as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(c.port).toBe(8080);
    expect(Object.isFrozen(c.apiKeys)).toBe(true);
    expect(Object.isFrozen(c.source)).toBe(true);
  });

  it("does not share mutable defaults between loads", () => {
    const c = loadConfig({});
    try {
      (c.apiKeys as string[]).push(KEY_A);
    } catch {
      // A frozen array is fine too.
    }
    expect(loadConfig({}).apiKeys).toEqual([]);
  });
});
