// One hand-written row per table entry: provider, stage, HTTP status, code → class and rule.
// The rows are typed out, not generated from the tables, so a table edit must be matched here.
import { describe, expect, it } from "vitest";
import {
  DIALPAD_CODES,
  ERROR_CLASSES,
  HTTP_STATUSES,
  NETWORK_ERRORS,
  TWILIO_CODES,
  classify,
  isErrorClass,
  type CodeRow,
  type ErrorClass,
  type Stage,
} from "../../src/policy/classify.js";

type Case = [
  provider: string,
  stage: Stage,
  httpStatus: number | null,
  code: string | null,
  expected: ErrorClass,
  rule: string,
];

const TWILIO: Case[] = [
  ["twilio", "receipt", null, "14107", "rate_limited", "twilio:14107"],
  ["twilio", "send", 401, "20003", "account", "twilio:20003"],
  ["twilio", "send", 429, "20429", "rate_limited", "twilio:20429"],
  ["twilio", "send", 429, "429", "rate_limited", "twilio:429"],
  ["twilio", "send", 500, "20500", "ambiguous", "twilio:20500"],
  ["twilio", "receipt", null, "20500", "transient", "twilio:20500"],
  ["twilio", "send", 400, "21211", "recipient_permanent", "twilio:21211"],
  ["twilio", "send", 400, "21408", "account", "twilio:21408"],
  ["twilio", "send", 400, "21610", "recipient_permanent", "twilio:21610"],
  ["twilio", "send", 400, "21611", "rate_limited", "twilio:21611"],
  ["twilio", "send", 400, "21612", "recipient_permanent", "twilio:21612"],
  ["twilio", "send", 400, "21614", "recipient_permanent", "twilio:21614"],
  ["twilio", "send", 400, "21617", "content_permanent", "twilio:21617"],
  ["twilio", "receipt", null, "30001", "rate_limited", "twilio:30001"],
  ["twilio", "receipt", null, "30002", "account", "twilio:30002"],
  ["twilio", "receipt", null, "30003", "transient", "twilio:30003"],
  ["twilio", "receipt", null, "30004", "recipient_permanent", "twilio:30004"],
  ["twilio", "receipt", null, "30005", "recipient_permanent", "twilio:30005"],
  ["twilio", "receipt", null, "30006", "recipient_permanent", "twilio:30006"],
  ["twilio", "receipt", null, "30007", "content_permanent", "twilio:30007"],
  ["twilio", "receipt", null, "30008", "transient", "twilio:30008"],
  ["twilio", "receipt", null, "30009", "transient", "twilio:30009"],
  ["twilio", "receipt", null, "30010", "transient", "twilio:30010"],
  ["twilio", "receipt", null, "30022", "rate_limited", "twilio:30022"],
  ["twilio", "receipt", null, "30023", "rate_limited", "twilio:30023"],
  ["twilio", "receipt", null, "30024", "account", "twilio:30024"],
  ["twilio", "receipt", null, "30027", "rate_limited", "twilio:30027"],
  ["twilio", "receipt", null, "30032", "account", "twilio:30032"],
  ["twilio", "receipt", null, "30034", "account", "twilio:30034"],
  ["twilio", "receipt", null, "30410", "transient", "twilio:30410"],
  ["twilio", "receipt", null, "30450", "transient", "twilio:30450"],
  ["twilio", "receipt", null, "30500", "transient", "twilio:30500"],
  ["twilio", "receipt", null, "30532", "account", "twilio:30532"],
  ["twilio", "receipt", null, "30533", "account", "twilio:30533"],
  ["twilio", "receipt", null, "30538", "account", "twilio:30538"],
  ["twilio", "receipt", null, "30540", "account", "twilio:30540"],
  ["twilio", "receipt", null, "30544", "account", "twilio:30544"],
  ["twilio", "receipt", null, "63017", "rate_limited", "twilio:63017"],
];

const DIALPAD: Case[] = [
  ["dialpad", "send", 401, "401", "account", "dialpad:401"],
  ["dialpad", "send", 403, "403", "rate_limited", "dialpad:403"],
  ["dialpad", "send", 429, "429", "rate_limited", "dialpad:429"],
  [
    "dialpad",
    "receipt",
    null,
    "invalid_destination",
    "recipient_permanent",
    "dialpad:invalid_destination",
  ],
  ["dialpad", "receipt", null, "invalid_source", "account", "dialpad:invalid_source"],
  ["dialpad", "receipt", null, "not_supported", "recipient_permanent", "dialpad:not_supported"],
  ["dialpad", "receipt", null, "rejected_spam", "content_permanent", "dialpad:rejected_spam"],
  ["dialpad", "receipt", null, "rejected", "recipient_permanent", "dialpad:rejected"],
  ["dialpad", "receipt", null, "no_route", "transient", "dialpad:no_route"],
  ["dialpad", "receipt", null, "time_out", "transient", "dialpad:time_out"],
  ["dialpad", "receipt", null, "internal_error", "transient", "dialpad:internal_error"],
];

// The sandbox has no table, so these reach the generic HTTP table.
const HTTP: Case[] = [
  ["sandbox", "send", 400, null, "content_permanent", "http:400"],
  ["sandbox", "send", 401, null, "account", "http:401"],
  ["sandbox", "send", 402, null, "account", "http:402"],
  ["sandbox", "send", 403, null, "account", "http:403"],
  ["sandbox", "send", 404, null, "account", "http:404"],
  ["sandbox", "send", 408, null, "transient", "http:408"],
  ["sandbox", "send", 413, null, "content_permanent", "http:413"],
  ["sandbox", "send", 422, null, "content_permanent", "http:422"],
  ["sandbox", "send", 429, null, "rate_limited", "http:429"],
  ["sandbox", "send", 500, null, "ambiguous", "http:500"],
  ["sandbox", "send", 502, null, "ambiguous", "http:502"],
  ["sandbox", "send", 503, null, "ambiguous", "http:503"],
  ["sandbox", "send", 504, null, "ambiguous", "http:504"],
  ["sandbox", "send", 507, null, "ambiguous", "http:5xx"],
];

// No `ambiguous` flag here: these show the table's own answer.
const NETWORK: Case[] = [
  ["twilio", "send", null, "ECONNREFUSED", "transient", "network:ECONNREFUSED"],
  ["twilio", "send", null, "ENOTFOUND", "transient", "network:ENOTFOUND"],
  ["twilio", "send", null, "EAI_AGAIN", "transient", "network:EAI_AGAIN"],
  ["dialpad", "send", null, "EHOSTUNREACH", "transient", "network:EHOSTUNREACH"],
  ["dialpad", "send", null, "ENETUNREACH", "transient", "network:ENETUNREACH"],
  ["twilio", "send", null, "ETIMEDOUT", "ambiguous", "network:ETIMEDOUT"],
  ["twilio", "send", null, "ECONNRESET", "ambiguous", "network:ECONNRESET"],
  ["twilio", "send", null, "EPIPE", "ambiguous", "network:EPIPE"],
  ["twilio", "send", null, "ECONNABORTED", "ambiguous", "network:ECONNABORTED"],
  ["dialpad", "send", null, "timeout", "ambiguous", "network:timeout"],
  ["dialpad", "send", null, "aborted", "ambiguous", "network:aborted"],
  ["twilio", "send", null, "ERESPONSETOOLARGE", "ambiguous", "network:ERESPONSETOOLARGE"],
  ["twilio", "send", null, "EUNKNOWN", "ambiguous", "network:EUNKNOWN"],
  ["sandbox", "send", null, "exception", "ambiguous", "network:exception"],
  ["twilio", "send", 201, "invalid_response", "ambiguous", "network:invalid_response"],
  ["twilio", "send", null, "EINVALIDURL", "account", "network:EINVALIDURL"],
  ["twilio", "send", null, "EREQUEST", "account", "network:EREQUEST"],
  ["dialpad", "send", null, "no_sender", "account", "network:no_sender"],
  ["twilio", "send", null, "expired", "transient", "network:expired"],
];

describe.each([
  ["Twilio codes", TWILIO],
  ["Dialpad codes", DIALPAD],
  ["HTTP statuses", HTTP],
  ["network errors", NETWORK],
])("%s", (_name, cases) => {
  it.each(cases)("%s %s %s %s → %s", (provider, stage, httpStatus, code, expected, rule) => {
    expect(classify({ provider, stage, httpStatus, code })).toEqual({
      class: expected,
      optOut: code === "21610" || code === "30004",
      rule,
    });
  });
});

describe("the tables", () => {
  const tables: [string, readonly CodeRow[], Case[]][] = [
    ["twilio", TWILIO_CODES, TWILIO],
    ["dialpad", DIALPAD_CODES, DIALPAD],
    ["http", HTTP_STATUSES, HTTP],
    ["network", NETWORK_ERRORS, NETWORK],
  ];

  it.each(tables)("every %s row has a hand-written case above", (prefix, rows, cases) => {
    for (const r of rows) {
      const hit = cases.some(
        ([, stage, , , , rule]) =>
          rule === `${prefix}:${r.code}` && (r.stages === undefined || r.stages.includes(stage)),
      );
      expect(hit, `${prefix}:${r.code} ${r.stages?.join("/") ?? ""}`).toBe(true);
    }
    // …and no case names a row that does not exist.
    expect(cases.length).toBe(rows.length);
  });

  it.each(tables)("every %s row has a valid class, a note and a source", (_p, rows) => {
    for (const r of rows) {
      expect(isErrorClass(r.class), r.code).toBe(true);
      expect(ERROR_CLASSES).toContain(r.class);
      expect(r.note.length, r.code).toBeGreaterThan(10);
      expect(r.source.length, r.code).toBeGreaterThan(1);
    }
  });

  it.each(tables)("%s has at most one row per code and stage", (_p, rows) => {
    const seen = new Set<string>();
    for (const r of rows) {
      for (const s of r.stages ?? ["send", "receipt"]) {
        const k = `${r.code}@${s}`;
        expect(seen.has(k), k).toBe(false);
        seen.add(k);
      }
    }
  });

  it("marks opt-out only on Twilio 21610 and 30004", () => {
    const all = [...TWILIO_CODES, ...DIALPAD_CODES, ...HTTP_STATUSES, ...NETWORK_ERRORS];
    expect(all.filter((r) => r.optOut).map((r) => r.code)).toEqual(["21610", "30004"]);
  });

  it("never says ambiguous at the receipt stage", () => {
    const all = [...TWILIO_CODES, ...DIALPAD_CODES, ...HTTP_STATUSES, ...NETWORK_ERRORS];
    for (const r of all) {
      if (r.class === "ambiguous") expect(r.stages, r.code).toEqual(["send"]);
    }
  });
});
