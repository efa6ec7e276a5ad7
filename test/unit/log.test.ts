// Logs: phone numbers masked, bodies and secrets redacted, wherever they are logged; the pretty
// format for terminals. The logger writes into a captured destination here.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/index.js";
import {
  createLogger,
  formatPretty,
  maskPhone,
  maskPhonesIn,
  type LoggerOptions,
} from "../../src/log.js";

/** A logger at `level` whose lines are collected in `lines`. */
function capture(level = "info", opts: Omit<LoggerOptions, "destination"> = {}) {
  const lines: string[] = [];
  const log = createLogger(level, {
    ...opts,
    destination: { write: (s: string) => void lines.push(s) },
  });
  return { log, lines, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const PHONE = "+14155552671";
const MASKED = "+1415•••••71";

describe("maskPhone", () => {
  it.each([
    [PHONE, MASKED],
    ["+447400123456", "+4474••••••56"],
    ["+12345", "•••"],
    ["(415) 555-2671", "(•••) •••-••71"],
    ["415.555.2671", "•••.•••.••71"],
    ["١٤١٥٥٥٥٢٦٧١", "•••••••••٧١"],
    ["Acme", "Acme"],
    ["12345", "12345"],
    ["", ""],
  ])("%j → %j", (input, out) => {
    expect(maskPhone(input)).toBe(out);
    // Masking a masked value changes nothing (overlapping redact paths may apply it twice).
    expect(maskPhone(out)).toBe(out);
  });

  it("finds numbers in URLs and messages, not in ids, counts or times", () => {
    expect(maskPhonesIn("/v1/suppressions/%2B14155552671")).toBe("/v1/suppressions/%2B1415•••••71");
    expect(maskPhonesIn("/v1/suppressions/+14155552671?x=1")).toBe(
      `/v1/suppressions/${MASKED}?x=1`,
    );
    expect(maskPhonesIn("/v1/messages?to=4155552671&limit=50")).toBe(
      "/v1/messages?to=••••••••71&limit=50",
    );
    expect(maskPhonesIn("Key (phone)=(+14155552671) already exists")).toBe(
      `Key (phone)=(${MASKED}) already exists`,
    );
    for (const same of [
      "/v1/messages/msg_01ARZ3NDEKTSV4RRFFQ69G5FAV",
      "/v1/messages/msg_0123456789012345678901234A/cancel",
      "took back 12 messages in 1234 ms",
      "at file.js:123:45",
    ]) {
      expect(maskPhonesIn(same)).toBe(same);
    }
  });
});

describe("JSON logs", () => {
  it("mask phone numbers and leave out bodies and secrets, wherever they are", () => {
    const { log, lines, json } = capture();
    log.info(
      {
        to: PHONE,
        from: "+14155550100",
        body: "Your code is 918273",
        message: { to: PHONE, body: "Your code is 918273", segments: 1 },
        params: { From: PHONE, To: "+14155550100", Body: "STOP now" },
        req: {
          url: `/v1/suppressions/%2B${PHONE.slice(1)}`,
          headers: { authorization: "Bearer sk-live-abcdef", "x-twilio-signature": "c2lnbmF0dXJl" },
        },
        account: {
          authToken: "tw-auth-token-1",
          apiKeySecret: "tw-key-secret",
          apiToken: "dp-token",
        },
        config: {
          databaseUrl: "postgres://smsq:hunter2@db/smsq",
          twilioAuthToken: "tw-auth-token-2",
          dialpadWebhookSecret: "dp-webhook-secret",
          apiKeys: ["api-key-0123456789"],
        },
        password: "hunter3",
        attempt: 2,
      },
      `sent to ${PHONE}`,
    );
    expect(lines).toHaveLength(1);
    const raw = lines[0]!;
    for (const leak of [
      "4155552671",
      "4155550100",
      "918273",
      "STOP now",
      "sk-live",
      "c2lnbmF0dXJl",
      "tw-auth-token",
      "tw-key-secret",
      "dp-token",
      "hunter",
      "dp-webhook-secret",
      "api-key-0123456789",
    ]) {
      expect(raw, leak).not.toContain(leak);
    }
    const [o] = json();
    expect(o).toMatchObject({
      msg: `sent to ${MASKED}`,
      to: MASKED,
      from: "+1415•••••00",
      body: "[redacted]",
      message: { to: MASKED, body: "[redacted]", segments: 1 },
      params: { From: MASKED, To: "+1415•••••00", Body: "[redacted]" },
      req: {
        url: "/v1/suppressions/%2B1415•••••71",
        headers: { authorization: "[redacted]", "x-twilio-signature": "[redacted]" },
      },
      account: { authToken: "[redacted]", apiKeySecret: "[redacted]", apiToken: "[redacted]" },
      config: {
        databaseUrl: "[redacted]",
        twilioAuthToken: "[redacted]",
        dialpadWebhookSecret: "[redacted]",
        apiKeys: "[redacted]",
      },
      password: "[redacted]",
      attempt: 2,
    });
  });

  it("mask numbers in an error's message and stack", () => {
    const { log, lines, json } = capture();
    const err = Object.assign(new Error(`duplicate key: Key (phone)=(${PHONE})`), {
      detail: `Key (phone)=(${PHONE}) already exists.`,
    });
    log.error({ err }, "recording failed");
    expect(lines[0]).not.toContain("4155552671");
    const e = json()[0]!.err as Record<string, string>;
    expect(e.message).toBe(`duplicate key: Key (phone)=(${MASKED})`);
    expect(e.stack).toContain(MASKED);
    expect(e.detail).toBe(`Key (phone)=(${MASKED}) already exists.`);
  });

  it("a phone field at any of the first three levels never shows the number", () => {
    const keys = fc.constantFrom("to", "from", "phone", "To", "From", "to_number", "recipient");
    const e164 = fc.stringMatching(/^\+[1-9]\d{9,13}$/);
    fc.assert(
      fc.property(
        keys,
        e164,
        fc.nat(2),
        fc.constantFrom("a", "req", "message"),
        (k, p, depth, outer) => {
          const { log, lines } = capture();
          let o: Record<string, unknown> = { [k]: p };
          for (let i = 0; i < depth; i++) o = { [`${outer}${i}`]: o };
          log.warn(o, "x");
          expect(lines[0]).not.toContain(p.slice(1, -2));
          expect(lines[0]).toContain(maskPhone(p));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("respects the level", () => {
    const { log, lines } = capture("warn");
    log.info("not shown");
    log.warn("shown");
    expect(lines).toHaveLength(1);
    const silent = capture("silent");
    silent.log.error("nothing");
    expect(silent.lines).toEqual([]);
  });
});

describe("pretty logs", () => {
  const LINE = /^(\d\d:\d\d:\d\d\.\d{3}) (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) (.*)\n$/s;

  it("print time, level, message and key=value fields, masked and redacted the same way", () => {
    const { log, lines } = capture("debug", { format: "pretty", colors: false });
    log.info(
      { to: PHONE, body: "secret body", attempt: 2, account: "twilio-main", note: "two words" },
      "sent",
    );
    log.debug({ req: { method: "POST", url: "/v1/messages" }, ok: true, n: null }, "request");
    log.warn("no fields");
    expect(lines).toHaveLength(3);
    const [first, second, third] = lines.map((l) => LINE.exec(l));
    expect(first?.[2]).toBe("INFO ");
    expect(first?.[3]).toBe(
      `sent to=${MASKED} body=[redacted] attempt=2 account=twilio-main note="two words"`,
    );
    expect(second?.[2]).toBe("DEBUG");
    expect(second?.[3]).toBe("request req.method=POST req.url=/v1/messages ok=true n=null");
    expect(third?.[3]).toBe("no fields");
    expect(lines.join("")).not.toContain("\u001b[");
    expect(lines.join("")).not.toContain("pid=");
  });

  it("print an error's stack on indented lines after the fields", () => {
    const { log, lines } = capture("info", { format: "pretty", colors: false });
    log.error({ err: new Error(`no route to ${PHONE}`) }, "failed");
    const [head, ...rest] = lines[0]!.trimEnd().split("\n");
    expect(head).toMatch(/ ERROR failed err\.message="no route to \+1415•••••71"$/);
    expect(rest.length).toBeGreaterThan(1);
    for (const l of rest) expect(l).toMatch(/^ {4}/);
    expect(lines[0]).not.toContain("4155552671");
  });

  it("colour the level and dim time and keys when asked (a terminal)", () => {
    const { log, lines } = capture("info", { format: "pretty", colors: true });
    log.warn({ attempt: 1 }, "slow");
    expect(lines[0]).toContain("\u001b[33mWARN \u001b[0m");
    expect(lines[0]).toContain("\u001b[2mattempt=\u001b[0m1");
  });

  it("pass a line that is not JSON through unchanged", () => {
    expect(formatPretty("not json\n", { colors: false })).toBe("not json\n");
    expect(formatPretty("42\n", { colors: false })).toBe("42\n");
  });
});

describe("SMSQ_LOG_FORMAT", () => {
  it("is json by default, pretty when asked, and refuses anything else", () => {
    expect(loadConfig({}, null).logFormat).toBe("json");
    expect(loadConfig({ SMSQ_LOG_FORMAT: "pretty" }, null).logFormat).toBe("pretty");
    expect(() => loadConfig({ SMSQ_LOG_FORMAT: "xml" }, null)).toThrow(ConfigError);
  });
});
