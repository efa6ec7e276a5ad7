// Precedence, provider differences, defaults, overrides and totality of classify().
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DIALPAD_CODES,
  ERROR_CLASSES,
  HTTP_STATUSES,
  NETWORK_ERRORS,
  TWILIO_CODES,
  classify,
  describeClass,
  isErrorClass,
  type ClassOverrides,
  type Failure,
} from "../../src/policy/classify.js";

const send = (
  provider: string,
  httpStatus: number | null,
  code: string | null,
  ambiguous?: boolean,
): Failure => ({
  provider,
  stage: "send",
  httpStatus,
  code,
  ...(ambiguous === undefined ? {} : { ambiguous }),
});
const receipt = (provider: string, code: string | null): Failure => ({
  provider,
  stage: "receipt",
  httpStatus: null,
  code,
});

describe("precedence", () => {
  it("an override beats the provider table", () => {
    const o: ClassOverrides = { twilio: { "30007": "transient" } };
    expect(classify(receipt("twilio", "30007"), o)).toEqual({
      class: "transient",
      optOut: false,
      rule: "override:twilio:30007",
    });
    expect(classify(receipt("twilio", "30007"))).toMatchObject({ class: "content_permanent" });
  });

  it("an override applies to its provider only", () => {
    const o: ClassOverrides = { dialpad: { "30007": "account" } };
    expect(classify(receipt("twilio", "30007"), o).rule).toBe("twilio:30007");
  });

  it("an override beats the ambiguous flag, HTTP and network tables, and the default", () => {
    const o: ClassOverrides = {
      twilio: { "503": "transient", ECONNRESET: "transient", "99999": "account" },
    };
    expect(classify(send("twilio", 503, "503", true), o).class).toBe("transient");
    expect(classify(send("twilio", null, "ECONNRESET", true), o).rule).toBe(
      "override:twilio:ECONNRESET",
    );
    expect(classify(receipt("twilio", "99999"), o).class).toBe("account");
  });

  it("the table beats the ambiguous flag for 20429 and 429: a 429 is never processed", () => {
    expect(classify(send("twilio", 429, "20429", true))).toEqual({
      class: "rate_limited",
      optOut: false,
      rule: "twilio:20429",
    });
    expect(classify(send("twilio", 429, "429", true)).class).toBe("rate_limited");
    expect(classify(send("dialpad", 429, "429", true)).class).toBe("rate_limited");
  });

  it("the ambiguous flag beats the generic 5xx and network rows", () => {
    expect(classify(send("twilio", 503, "503", true)).rule).toBe("adapter:ambiguous");
    expect(classify(send("dialpad", 502, "502", true)).rule).toBe("adapter:ambiguous");
    expect(classify(send("twilio", null, "ECONNREFUSED", true)).class).toBe("ambiguous");
  });

  it("without the flag a 5xx is ambiguous by the HTTP table", () => {
    expect(classify(send("dialpad", 503, "503"))).toEqual({
      class: "ambiguous",
      optOut: false,
      rule: "http:503",
    });
  });

  it("an adapter that says 'not sent' turns a may-have-been-sent row into transient", () => {
    // http.ts: a connect-phase ETIMEDOUT or reset reached nobody.
    expect(classify(send("twilio", null, "ETIMEDOUT", false))).toEqual({
      class: "transient",
      optOut: false,
      rule: "network:ETIMEDOUT:not_ambiguous",
    });
    expect(classify(send("twilio", null, "ECONNRESET", false)).class).toBe("transient");
    expect(classify(send("sandbox", 503, null, false)).rule).toBe("http:503:not_ambiguous");
    // …but never changes a row that is not about doubt.
    expect(classify(send("twilio", null, "ECONNREFUSED", false)).class).toBe("transient");
    expect(classify(send("twilio", null, "no_sender", false)).class).toBe("account");
  });

  it("the HTTP status comes before the network code", () => {
    expect(classify(send("sandbox", 401, "ECONNRESET")).rule).toBe("http:401");
  });

  it("the ambiguous flag is ignored at the receipt stage", () => {
    expect(classify({ ...receipt("twilio", "12345"), ambiguous: true }).class).toBe("transient");
  });
});

describe("the same code at two providers", () => {
  it("403: Twilio's is an account problem, Dialpad's is probable throttling", () => {
    expect(classify(send("twilio", 403, "403"))).toMatchObject({
      class: "account",
      rule: "http:403",
    });
    expect(classify(send("dialpad", 403, "403"))).toMatchObject({
      class: "rate_limited",
      rule: "dialpad:403",
    });
  });

  it("21211 means something only at Twilio", () => {
    expect(classify(send("twilio", 400, "21211")).class).toBe("recipient_permanent");
    expect(classify(send("dialpad", 400, "21211"))).toMatchObject({
      class: "content_permanent",
      rule: "http:400",
    });
  });

  it("a provider without a table (the sandbox) never borrows Twilio's", () => {
    expect(classify(receipt("sandbox", "30004"))).toEqual({
      class: "transient",
      optOut: false,
      rule: "default:receipt",
    });
  });

  it("a code with no HTTP status is looked up by the status when the code is missing", () => {
    expect(classify(send("dialpad", 403, null)).rule).toBe("dialpad:403");
    expect(classify(send("dialpad", 403, "  ")).rule).toBe("dialpad:403");
  });

  it("20500 differs by stage: ambiguous on create, transient in a receipt", () => {
    expect(classify(send("twilio", 500, "20500", false)).class).toBe("ambiguous");
    expect(classify(receipt("twilio", "20500")).class).toBe("transient");
  });
});

describe("defaults", () => {
  it("an unknown code at send is transient, rule default:send", () => {
    expect(classify(send("twilio", null, "E_WHATEVER"))).toEqual({
      class: "transient",
      optOut: false,
      rule: "default:send",
    });
    expect(classify(send("sandbox", null, null))).toEqual({
      class: "transient",
      optOut: false,
      rule: "default:send",
    });
    // A 4xx nobody documents: not processed, so a bounded retry cannot duplicate.
    expect(classify(send("dialpad", 409, "409")).rule).toBe("default:send");
  });

  it("an unknown code in a receipt is transient, rule default:receipt", () => {
    expect(classify(receipt("twilio", "39999"))).toEqual({
      class: "transient",
      optOut: false,
      rule: "default:receipt",
    });
    expect(classify(receipt("dialpad", "accepted")).rule).toBe("default:receipt");
    expect(classify(receipt("dialpad", null)).rule).toBe("default:receipt");
  });

  it("HTTP and network rows do not apply to receipts", () => {
    expect(classify(receipt("dialpad", "403")).rule).toBe("default:receipt");
    expect(classify(receipt("twilio", "ECONNRESET")).rule).toBe("default:receipt");
  });
});

describe("opt-out", () => {
  it("is set for Twilio 21610 and 30004, at either stage", () => {
    expect(classify(send("twilio", 400, "21610")).optOut).toBe(true);
    expect(classify(receipt("twilio", "21610")).optOut).toBe(true);
    expect(classify(receipt("twilio", "30004")).optOut).toBe(true);
    expect(classify(send("twilio", 400, "30004")).optOut).toBe(true);
  });

  it("is not set for the same codes elsewhere, or for other permanent codes", () => {
    expect(classify(receipt("dialpad", "30004")).optOut).toBe(false);
    expect(classify(receipt("sandbox", "21610")).optOut).toBe(false);
    for (const c of ["21211", "21614", "30005", "30006", "30007", "21612"]) {
      expect(classify(receipt("twilio", c)).optOut, c).toBe(false);
    }
  });

  it("survives an override only while the class stays recipient_permanent", () => {
    expect(classify(receipt("twilio", "30004"), { twilio: { "30004": "transient" } }).optOut).toBe(
      false,
    );
    expect(
      classify(receipt("twilio", "30004"), { twilio: { "30004": "recipient_permanent" } }),
    ).toEqual({
      class: "recipient_permanent",
      optOut: true,
      rule: "override:twilio:30004",
    });
  });
});

describe("overrides from config", () => {
  it("ignore values that are not a class, and junk shapes", () => {
    const bad = { twilio: { "30007": "retry" } } as unknown as ClassOverrides;
    expect(classify(receipt("twilio", "30007"), bad).rule).toBe("twilio:30007");
    const junk = { twilio: null } as unknown as ClassOverrides;
    expect(classify(receipt("twilio", "30007"), junk).rule).toBe("twilio:30007");
  });

  it("do not see inherited properties", () => {
    expect(classify(receipt("twilio", "toString"), {}).rule).toBe("default:receipt");
    expect(classify(receipt("constructor", "constructor"), {}).rule).toBe("default:receipt");
    expect(classify(receipt("__proto__", "__proto__"), {}).rule).toBe("default:receipt");
  });

  it("can force ambiguous at send, but a receipt is never ambiguous", () => {
    const o: ClassOverrides = { dialpad: { no_route: "ambiguous" } };
    expect(classify(send("dialpad", null, "no_route"), o).class).toBe("ambiguous");
    expect(classify(receipt("dialpad", "no_route"), o)).toEqual({
      class: "transient",
      optOut: false,
      rule: "override:dialpad:no_route",
    });
  });
});

describe("classes", () => {
  it("isErrorClass accepts the six and nothing else", () => {
    for (const c of ERROR_CLASSES) expect(isErrorClass(c)).toBe(true);
    for (const s of ["", "permanent", "Transient", "retry", "toString"]) {
      expect(isErrorClass(s)).toBe(false);
    }
  });

  it("describeClass gives one distinct line per class", () => {
    const lines = ERROR_CLASSES.map(describeClass);
    for (const l of lines) expect(l).toMatch(/^[^\n]{20,200}$/);
    expect(new Set(lines).size).toBe(6);
  });
});

describe("totality", () => {
  const classes = fc.constantFrom(...ERROR_CLASSES);
  const someCode = fc.oneof(
    fc.constantFrom(
      ...[...TWILIO_CODES, ...DIALPAD_CODES, ...HTTP_STATUSES, ...NETWORK_ERRORS].map(
        (r) => r.code,
      ),
    ),
    fc.string(),
    fc.constantFrom("__proto__", "constructor", "toString", " 21610 "),
  );
  const failure = fc.record(
    {
      provider: fc.oneof(fc.constantFrom("twilio", "dialpad", "sandbox", "__proto__"), fc.string()),
      stage: fc.constantFrom("send" as const, "receipt" as const),
      httpStatus: fc.oneof(fc.constant(null), fc.integer({ min: -1000, max: 1000 }), fc.double()),
      code: fc.oneof(fc.constant(null), someCode),
      ambiguous: fc.boolean(),
    },
    { requiredKeys: ["provider", "stage", "httpStatus", "code"] },
  );
  const overrides = fc.option(fc.dictionary(fc.string(), fc.dictionary(someCode, classes)), {
    nil: undefined,
  });

  it("classify never throws and always answers one of the six classes", () => {
    fc.assert(
      fc.property(failure, overrides, (f, o) => {
        const c = classify(f, o);
        expect(isErrorClass(c.class)).toBe(true);
        expect(typeof c.optOut).toBe("boolean");
        expect(c.rule).toMatch(/^(override|twilio|dialpad|adapter|http|network|default):/);
        if (f.stage === "receipt") expect(c.class).not.toBe("ambiguous");
        if (c.optOut) expect(c.class).toBe("recipient_permanent");
      }),
      { numRuns: 2000 },
    );
  });

  it("survives values of the wrong type (failures read back from JSON)", () => {
    fc.assert(
      fc.property(
        fc.anything(),
        fc.anything(),
        fc.anything(),
        fc.anything(),
        fc.anything(),
        (p, s, h, c, o) => {
          const f = { provider: p, stage: s, httpStatus: h, code: c } as unknown as Failure;
          expect(isErrorClass(classify(f, o as ClassOverrides).class)).toBe(true);
        },
      ),
    );
  });
});

describe("docs/errors.md", () => {
  it("names every class and every table row", () => {
    const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
    for (const c of ERROR_CLASSES) expect(doc, c).toContain(`\`${c}\``);
    // Each row is rendered on a line of its own naming its code and its class.
    const lines = doc.split("\n");
    for (const r of [...TWILIO_CODES, ...DIALPAD_CODES, ...HTTP_STATUSES, ...NETWORK_ERRORS]) {
      const hit = lines.some((l) => l.includes(`| \`${r.code}\` `) && l.includes(`\`${r.class}\``));
      expect(hit, `${r.code} ${r.class}`).toBe(true);
    }
  });
});
