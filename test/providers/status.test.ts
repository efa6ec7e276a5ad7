// Status mapping tables, row by row: provider status word → lifecycle status, error code and
// dedupe key. A change to a table must change a named row here.
import { describe, expect, it } from "vitest";
import {
  DIALPAD_DELIVERY_RESULT,
  DIALPAD_STATUS,
  dialpadReceipt,
  parseDialpadJson,
} from "../../src/providers/dialpad-status.js";
import {
  TWILIO_STATUS,
  twilioOptOutCode,
  twilioReceipt,
} from "../../src/providers/twilio-status.js";

const SID = "SM0123456789abcdef0123456789abcdef";

describe("twilioReceipt", () => {
  const rows: [messageStatus: string, expected: string | null][] = [
    ["sent", "sent"],
    ["delivered", "delivered"],
    ["read", "delivered"],
    ["undelivered", "undelivered"],
    ["failed", "failed"],
    ["canceled", "failed"],
    ["queued", null],
    ["sending", null],
    ["accepted", null],
    ["scheduled", null],
    ["receiving", null],
    ["received", null],
  ];

  it.each(rows)("twilio %s → %s", (messageStatus, expected) => {
    const r = twilioReceipt({ MessageSid: SID, MessageStatus: messageStatus, AccountSid: "AC1" });
    if (expected === null) {
      expect(r).toBeNull();
      return;
    }
    expect(r).toEqual({
      provider: "twilio",
      providerMessageId: SID,
      status: expected,
      providerStatus: messageStatus,
      errorCode: null,
      dedupeKey: `twilio:${SID}:${messageStatus}`,
    });
  });

  it("names every row of the table", () => {
    expect(Object.keys(TWILIO_STATUS).sort()).toEqual(rows.map((r) => r[0]).sort());
  });

  it("carries ErrorCode into the receipt and its dedupe key", () => {
    const r = twilioReceipt({ MessageSid: SID, MessageStatus: "undelivered", ErrorCode: "30003" });
    expect(r).toMatchObject({ status: "undelivered", errorCode: "30003" });
    expect(r?.dedupeKey).toBe(`twilio:${SID}:undelivered:30003`);
    expect(r?.optOut).toBeUndefined();
  });

  it("gives the same callback the same dedupe key", () => {
    const p = { MessageSid: SID, MessageStatus: "failed", ErrorCode: "30008", To: "+1415" };
    expect(twilioReceipt(p)?.dedupeKey).toBe(twilioReceipt({ ...p })?.dedupeKey);
    expect(twilioReceipt(p)?.dedupeKey).not.toBe(
      twilioReceipt({ ...p, MessageStatus: "undelivered" })?.dedupeKey,
    );
  });

  it("marks opt-out codes (30004) on failures", () => {
    const r = twilioReceipt({ MessageSid: SID, MessageStatus: "undelivered", ErrorCode: "30004" });
    expect(r?.optOut).toBe(true);
  });

  it("reads the legacy SmsSid/SmsStatus names, ignores empty ErrorCode", () => {
    const r = twilioReceipt({ SmsSid: SID, SmsStatus: "delivered", ErrorCode: "" });
    expect(r).toMatchObject({ providerMessageId: SID, status: "delivered", errorCode: null });
  });

  it("returns null for missing or unknown statuses (partially_delivered, constructor)", () => {
    expect(twilioReceipt({ MessageStatus: "delivered" })).toBeNull();
    expect(twilioReceipt({ MessageSid: SID })).toBeNull();
    expect(twilioReceipt({ MessageSid: SID, MessageStatus: "partially_delivered" })).toBeNull();
    expect(twilioReceipt({ MessageSid: SID, MessageStatus: "constructor" })).toBeNull();
  });
});

describe("twilioOptOutCode", () => {
  it.each([
    ["21610", true],
    ["30004", true],
    ["30003", false],
    ["21211", false],
    ["", false],
    [null, false],
  ])("twilio code %s → opt-out %s", (code, expected) => {
    expect(twilioOptOutCode(code)).toBe(expected);
  });
});

describe("dialpadReceipt", () => {
  const event = (over: Record<string, unknown>) => ({
    id: 5889584726728704,
    direction: "outbound",
    message_status: "success",
    message_delivery_result: "accepted",
    ...over,
  });

  it("dialpad success → delivered", () => {
    expect(dialpadReceipt(event({}))).toEqual({
      provider: "dialpad",
      providerMessageId: "5889584726728704",
      status: "delivered",
      providerStatus: "success",
      errorCode: null,
      dedupeKey: "dialpad:5889584726728704:success:accepted",
    });
  });

  it("dialpad pending → null", () => {
    expect(
      dialpadReceipt(event({ message_status: "pending", message_delivery_result: null })),
    ).toBeNull();
  });

  const failedRows: [deliveryResult: string, expected: "failed" | "undelivered"][] = [
    ["invalid_source", "failed"],
    ["invalid_destination", "failed"],
    ["not_supported", "failed"],
    ["rejected", "undelivered"],
    ["rejected_spam", "undelivered"],
    ["no_route", "undelivered"],
    ["time_out", "undelivered"],
    ["internal_error", "undelivered"],
  ];

  it.each(failedRows)("dialpad failed/%s → %s", (result, expected) => {
    const r = dialpadReceipt(event({ message_status: "failed", message_delivery_result: result }));
    expect(r).toEqual({
      provider: "dialpad",
      providerMessageId: "5889584726728704",
      status: expected,
      providerStatus: "failed",
      errorCode: result,
      dedupeKey: `dialpad:5889584726728704:failed:${result}`,
    });
  });

  it("names every row of both tables", () => {
    expect(Object.keys(DIALPAD_DELIVERY_RESULT).sort()).toEqual(failedRows.map((r) => r[0]).sort());
    expect(Object.keys(DIALPAD_STATUS).sort()).toEqual(["failed", "pending", "success"]);
  });

  it("dialpad failed with an unknown or missing result → undelivered", () => {
    const unknown = dialpadReceipt(
      event({ message_status: "failed", message_delivery_result: "x" }),
    );
    expect(unknown).toMatchObject({ status: "undelivered", errorCode: "x" });
    const missing = dialpadReceipt(
      event({ message_status: "failed", message_delivery_result: null }),
    );
    expect(missing).toMatchObject({ status: "undelivered", errorCode: null });
    expect(missing?.dedupeKey).toBe("dialpad:5889584726728704:failed:");
  });

  it("ignores inbound events, unknown statuses and events without an id", () => {
    expect(dialpadReceipt(event({ direction: "inbound" }))).toBeNull();
    expect(dialpadReceipt(event({ direction: undefined }))).toBeNull();
    expect(dialpadReceipt(event({ message_status: "queued" }))).toBeNull();
    expect(dialpadReceipt(event({ message_status: "toString" }))).toBeNull();
    expect(dialpadReceipt(event({ id: undefined }))).toBeNull();
    expect(dialpadReceipt(event({ id: { nested: 1 } }))).toBeNull();
  });

  it("gives the same event the same dedupe key; an id as string or number alike", () => {
    const a = dialpadReceipt(
      event({ message_status: "failed", message_delivery_result: "rejected" }),
    );
    const b = dialpadReceipt(
      event({
        id: "5889584726728704",
        message_status: "failed",
        message_delivery_result: "rejected",
      }),
    );
    expect(a?.dedupeKey).toBe(b?.dedupeKey);
    expect(a?.providerMessageId).toBe(b?.providerMessageId);
  });
});

describe("parseDialpadJson", () => {
  it("keeps integers beyond 2^53 exact as strings, leaves the rest as JSON.parse does", () => {
    const text =
      '{"id": 6543210987654321123, "n": -9007199254740993, "small": 42, "f": 1.5e3,' +
      ' "s": "id: 6543210987654321123, \\"q\\"", "a": [12345678901234567890]}';
    expect(parseDialpadJson(text)).toEqual({
      id: "6543210987654321123",
      n: "-9007199254740993",
      small: 42,
      f: 1500,
      s: 'id: 6543210987654321123, "q"',
      a: ["12345678901234567890"],
    });
    expect(() => parseDialpadJson("{bad")).toThrow();
  });
});
