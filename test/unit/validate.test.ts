import { describe, expect, it } from "vitest";
import { SmsqError, isSmsqError } from "../../src/errors.js";
import { LANES, parseTime, validateMessage } from "../../src/messages/validate.js";
import { isKnownRegion, maskPhone, toE164 } from "../../src/messages/phone.js";
import type { MessageInput } from "../../src/messages/schemas.js";

const NOW = new Date("2026-01-15T12:00:00Z");
const US = { defaultRegion: "US", maxSegments: 10 };
const TO = "+1 415 555 2671";
const TO_E164 = "+14155552671";

const msg = (over: Partial<MessageInput> = {}): MessageInput => ({ to: TO, body: "hi", ...over });

/** Runs fn and returns the SmsqError it throws (fails the test if it does not). */
function smsqError(fn: () => unknown): SmsqError {
  try {
    fn();
  } catch (e) {
    expect(isSmsqError(e)).toBe(true);
    return e as SmsqError;
  }
  throw new Error("expected an SmsqError, nothing was thrown");
}

function expectError(fn: () => unknown, code: string, field: string): SmsqError {
  const e = smsqError(fn);
  expect({ code: e.code, field: e.field }).toEqual({ code, field });
  expect(e.status).toBe(400);
  return e;
}

describe("toE164", () => {
  it.each([
    ["+1 415 555 2671", "US", "+14155552671"],
    ["(415) 555-2671", "US", "+14155552671"],
    ["415.555.2671", "US", "+14155552671"],
    ["  415-555-2671  ", "US", "+14155552671"],
    ["+44 7400 123456", "US", "+447400123456"],
    ["07400 123456", "GB", "+447400123456"],
    ["+44 7400 123456", "XX", "+447400123456"],
  ])("%j with region %s is %s", (input, region, expected) => {
    expect(toE164(input, region)).toBe(expected);
  });

  it.each([
    ["555-1234", "US"], // no area code
    ["+1 415 123 4567", "US"], // NANP exchanges cannot start with 1
    ["07400 123456", "US"], // a UK national number read as US
    ["(415) 555-2671", "XX"], // no usable region, no country code
    ["not a number", "US"],
    ["", "US"],
  ])("%j with region %s is refused", (input, region) => {
    expect(toE164(input, region)).toBeNull();
  });

  it("knows regions and masks numbers", () => {
    expect(isKnownRegion("US")).toBe(true);
    expect(isKnownRegion("GB")).toBe(true);
    expect(isKnownRegion("XX")).toBe(false);
    expect(maskPhone("+14155552671")).toBe("+1415•••••71");
    expect(maskPhone("+12345")).toBe("•••");
  });
});

describe("parseTime", () => {
  it.each([
    ["2026-01-31T09:00:00Z", Date.UTC(2026, 0, 31, 9, 0, 0)],
    ["2026-01-31t09:00:00z", Date.UTC(2026, 0, 31, 9, 0, 0)],
    ["2026-01-31 09:00:00Z", Date.UTC(2026, 0, 31, 9, 0, 0)],
    ["2026-01-31T09:00:00.250Z", Date.UTC(2026, 0, 31, 9, 0, 0, 250)],
    ["2026-01-31T09:00:00+02:00", Date.UTC(2026, 0, 31, 7, 0, 0)],
    ["2026-01-31T09:00:00-05:30", Date.UTC(2026, 0, 31, 14, 30, 0)],
    ["2028-02-29T00:00:00Z", Date.UTC(2028, 1, 29)],
  ])("%s is parsed", (value, ms) => {
    expect(parseTime(value, "sendAt").getTime()).toBe(ms);
  });

  it.each([
    "2026-01-31T09:00:00", // no time zone
    "2026-01-31",
    "2026-02-30T10:00:00Z",
    "2026-02-29T10:00:00Z", // 2026 is not a leap year
    "2026-04-31T10:00:00Z",
    "2026-13-01T10:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T10:60:00Z",
    "2026-01-01T10:00:60Z",
    "2026-01-01T10:00:00+25:00",
    "1767225600",
    "garbage",
    "",
  ])("%j is refused with invalid_date naming the field", (value) => {
    expectError(() => parseTime(value, "messages[0].sendAt"), "invalid_date", "messages[0].sendAt");
  });
});

describe("validateMessage", () => {
  it("normalises the recipient and fills the defaults", () => {
    const m = validateMessage(msg({ to: "(415) 555-2671" }), US, NOW);
    expect(m).toMatchObject({
      to: TO_E164,
      from: null,
      body: "hi",
      segments: 1,
      encoding: "GSM-7",
      priority: "normal",
      lane: 1,
      status: "queued",
      sendAt: null,
      validUntil: null,
      metadata: null,
    });
    expect(m.runAt.getTime()).toBe(NOW.getTime());
    expect(m.id).toMatch(/^msg_[0-9A-HJKMNP-TV-Z]{26}$/);
  });

  it("uses the default region for national numbers", () => {
    expect(
      validateMessage(msg({ to: "07400 123456" }), { ...US, defaultRegion: "GB" }, NOW).to,
    ).toBe("+447400123456");
    expectError(() => validateMessage(msg({ to: "07400 123456" }), US, NOW), "invalid_phone", "to");
  });

  it("refuses an invalid recipient naming the field, with the batch prefix", () => {
    const e = expectError(
      () => validateMessage(msg({ to: "555-1234" }), US, NOW),
      "invalid_phone",
      "to",
    );
    expect(e.message).toContain("US");
    expectError(
      () => validateMessage(msg({ to: "+1 415 123 4567" }), US, NOW, "messages[3]."),
      "invalid_phone",
      "messages[3].to",
    );
  });

  it.each(["", " ", "\n\t  "])("refuses the empty body %j", (body) => {
    expectError(() => validateMessage(msg({ body }), US, NOW), "invalid_body", "body");
    expectError(
      () => validateMessage(msg({ body }), US, NOW, "messages[1]."),
      "invalid_body",
      "messages[1].body",
    );
  });

  it("refuses a NUL in the body", () => {
    expectError(() => validateMessage(msg({ body: "a\u0000b" }), US, NOW), "invalid_body", "body");
  });

  it("refuses a body over maxSegments and counts segments", () => {
    const two = { ...US, maxSegments: 2 };
    // GSM-7: 306 septets = 2 × 153; 307 needs a third part.
    const ok = validateMessage(msg({ body: "a".repeat(306) }), two, NOW);
    expect({ segments: ok.segments, encoding: ok.encoding }).toEqual({
      segments: 2,
      encoding: "GSM-7",
    });
    expectError(
      () => validateMessage(msg({ body: "a".repeat(307) }), two, NOW),
      "body_too_long",
      "body",
    );
    // UCS-2: 134 units = 2 × 67; 135 needs a third part.
    expect(validateMessage(msg({ body: "ś".repeat(134) }), two, NOW).encoding).toBe("UCS-2");
    expectError(
      () => validateMessage(msg({ body: "ś".repeat(135) }), two, NOW, "messages[2]."),
      "body_too_long",
      "messages[2].body",
    );
  });

  it("refuses bad dates naming the field", () => {
    expectError(
      () => validateMessage(msg({ sendAt: "2026-03-01T10:00:00" }), US, NOW),
      "invalid_date",
      "sendAt",
    );
    expectError(
      () => validateMessage(msg({ validUntil: "2026-02-30T10:00:00Z" }), US, NOW),
      "invalid_date",
      "validUntil",
    );
    expectError(
      () => validateMessage(msg({ sendAt: "tomorrow" }), US, NOW, "messages[5]."),
      "invalid_date",
      "messages[5].sendAt",
    );
  });

  it("refuses validUntil in the past or not after sendAt", () => {
    expectError(
      () => validateMessage(msg({ validUntil: "2026-01-15T11:59:59Z" }), US, NOW),
      "invalid_schedule",
      "validUntil",
    );
    expectError(
      () => validateMessage(msg({ validUntil: "2026-01-15T12:00:00Z" }), US, NOW),
      "invalid_schedule",
      "validUntil",
    );
    expectError(
      () =>
        validateMessage(
          msg({ sendAt: "2026-01-20T10:00:00Z", validUntil: "2026-01-19T10:00:00Z" }),
          US,
          NOW,
        ),
      "invalid_schedule",
      "validUntil",
    );
    expectError(
      () =>
        validateMessage(
          msg({ sendAt: "2026-01-20T10:00:00Z", validUntil: "2026-01-20T10:00:00Z" }),
          US,
          NOW,
        ),
      "invalid_schedule",
      "validUntil",
    );
    const m = validateMessage(
      msg({ sendAt: "2026-01-20T10:00:00Z", validUntil: "2026-01-20T10:00:01Z" }),
      US,
      NOW,
    );
    expect(m.validUntil?.getTime()).toBe(Date.UTC(2026, 0, 20, 10, 0, 1));
  });

  it("refuses sendAt more than 366 days ahead", () => {
    // NOW + 366 days = 2027-01-16T12:00:00Z.
    expect(validateMessage(msg({ sendAt: "2027-01-16T12:00:00Z" }), US, NOW).status).toBe(
      "scheduled",
    );
    expectError(
      () => validateMessage(msg({ sendAt: "2027-01-16T12:00:01Z" }), US, NOW),
      "invalid_schedule",
      "sendAt",
    );
  });

  it("schedules a future sendAt and queues a past or present one", () => {
    const future = validateMessage(msg({ sendAt: "2026-01-15T13:30:00+01:00" }), US, NOW);
    // 13:30+01:00 is 12:30Z, after NOW.
    expect(future.status).toBe("scheduled");
    expect(future.runAt.getTime()).toBe(Date.UTC(2026, 0, 15, 12, 30));
    expect(future.sendAt?.getTime()).toBe(Date.UTC(2026, 0, 15, 12, 30));

    const past = validateMessage(msg({ sendAt: "2026-01-15T12:30:00+01:00" }), US, NOW);
    expect(past.status).toBe("queued");
    expect(past.runAt.getTime()).toBe(NOW.getTime());
    expect(past.sendAt?.getTime()).toBe(Date.UTC(2026, 0, 15, 11, 30));

    const exact = validateMessage(msg({ sendAt: "2026-01-15T12:00:00Z" }), US, NOW);
    expect(exact.status).toBe("queued");
  });

  it("limits metadata to 4096 bytes of JSON, counted in UTF-8 bytes", () => {
    // {"x":"…"} is 8 bytes plus the string.
    const ok = validateMessage(msg({ metadata: { x: "a".repeat(4088) } }), US, NOW);
    expect(ok.metadata).toEqual({ x: "a".repeat(4088) });
    expectError(
      () => validateMessage(msg({ metadata: { x: "a".repeat(4089) } }), US, NOW),
      "invalid_metadata",
      "metadata",
    );
    // "é" is two bytes in UTF-8: 8 + 2 × 2045 = 4098 bytes in 2053 characters.
    expectError(
      () => validateMessage(msg({ metadata: { x: "é".repeat(2045) } }), US, NOW, "messages[0]."),
      "invalid_metadata",
      "messages[0].metadata",
    );
  });

  it("maps priority to lanes", () => {
    expect(LANES).toEqual({ high: 0, normal: 1, low: 2 });
    expect(validateMessage(msg({ priority: "high" }), US, NOW).lane).toBe(0);
    expect(validateMessage(msg({ priority: "low" }), US, NOW).lane).toBe(2);
  });

  it.each([
    ["+1 415 555 2671", "+14155552671"],
    ["(415) 555-2671", "+14155552671"],
    ["12345", "12345"],
    [" 12345 ", "12345"],
    ["Clinic", "Clinic"],
    ["Dr Smith 24", "Dr Smith 24"],
  ])("accepts from %j as %j", (from, expected) => {
    expect(validateMessage(msg({ from }), US, NOW).from).toBe(expected);
  });

  it.each(["!!", "Clinic-Name", "TwelveLetter", "12", "", "+1 415 123 4567"])(
    "refuses from %j",
    (from) => {
      expectError(() => validateMessage(msg({ from }), US, NOW), "invalid_phone", "from");
      expectError(
        () => validateMessage(msg({ from }), US, NOW, "messages[9]."),
        "invalid_phone",
        "messages[9].from",
      );
    },
  );
});
