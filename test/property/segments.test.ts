/**
 * Segment counting against an independent reference model. The model below is written from
 * GSM 03.38 / 3GPP TS 23.038 and Twilio's published rules, not from src/messages/segments.ts:
 * it splits the body into the actual parts a carrier would send (so "an escape pair or a
 * surrogate pair is never split" is checked on real parts), is first checked against Twilio's
 * published examples, and then the implementation must agree with it on random bodies drawn
 * from the GSM-7 basic and extension tables, non-GSM BMP characters and astral characters.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { countSegments } from "../../src/messages/segments.js";

// ---- Reference model -------------------------------------------------------------------------

// GSM 03.38 default alphabet in table order, 0x00 to 0x7F; 0x1B is the escape to the extension
// table (written here as "\u001b" and taken out below: it is not a character of its own).
const GSM_TABLE =
  "@£$¥èéùìòÇ\nØø\rÅå" + // 0x00
  "Δ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ" + // 0x10
  " !\"#¤%&'()*+,-./" + // 0x20
  "0123456789:;<=>?" + // 0x30
  "¡ABCDEFGHIJKLMNO" + // 0x40
  "PQRSTUVWXYZÄÖÑÜ§" + // 0x50
  "¿abcdefghijklmno" + // 0x60
  "pqrstuvwxyzäöñüà"; // 0x70
const MODEL_BASIC = [...GSM_TABLE].filter((c) => c !== "\u001b");
// The extension table's characters, by their codes: 0x0A form feed, 0x14 ^, 0x28 {, 0x29 },
// 0x2F \, 0x3C [, 0x3D ~, 0x3E ], 0x40 |, 0x65 €. Each is sent as ESC + code: two septets.
const MODEL_EXTENSION = ["\u000c", "^", "{", "}", "\\", "[", "~", "]", "|", "€"];

interface ModelResult {
  encoding: "GSM-7" | "UCS-2";
  units: number;
  segments: number;
  /** The parts as sent (one part when the whole body fits a single message). */
  parts: string[];
}

/**
 * Splits `body` the way it is sent. GSM-7 when every character is in the basic or extension
 * table: 160 septets in one message, else parts of at most 153 (7 septets go to the UDH).
 * Otherwise UCS-2: 70 UTF-16 units in one message, else parts of at most 67. An escape pair or
 * a surrogate pair that does not fit in what is left of a part starts the next part.
 */
function model(body: string): ModelResult {
  const chars = Array.from(body); // code points: a surrogate pair is one item
  const gsm = chars.every((c) => MODEL_BASIC.includes(c) || MODEL_EXTENSION.includes(c));
  const cost = (c: string) => (gsm ? (MODEL_EXTENSION.includes(c) ? 2 : 1) : c.length);
  const units = chars.reduce((t, c) => t + cost(c), 0);
  const single = gsm ? 160 : 70;
  const part = gsm ? 153 : 67;
  if (units <= single) {
    return { encoding: gsm ? "GSM-7" : "UCS-2", units, segments: 1, parts: [body] };
  }
  const parts: string[] = [];
  let current = "";
  let used = 0;
  for (const c of chars) {
    if (used + cost(c) > part) {
      parts.push(current);
      current = "";
      used = 0;
    }
    current += c;
    used += cost(c);
  }
  parts.push(current);
  return { encoding: gsm ? "GSM-7" : "UCS-2", units, segments: parts.length, parts };
}

const rep = (s: string, n: number) => s.repeat(n);
const EMOJI = "😀";

// ---- Generators ------------------------------------------------------------------------------

const basic = fc.constantFrom(...MODEL_BASIC);
const extension = fc.constantFrom(...MODEL_EXTENSION);
// Characters outside GSM-7 that look like GSM ones or are common in messages: ç (only Ç is
// GSM), backtick, lowercase Greek, no-break space, typographic quotes and dashes, ESC itself,
// Cyrillic, CJK, the byte order mark, a combining accent, a lone surrogate.
const nonGsmBmp = fc.constantFrom(
  "ç",
  "`",
  "δ",
  "\u00a0",
  "’",
  "“",
  "–",
  "\u001b",
  "ж",
  "中",
  "\ufeff",
  "\u0301",
  "ś",
  "\ud800",
);
const astral = fc.constantFrom(EMOJI, "🚀", "𠀀", "👍🏽", "🇬🇧", "𝄞");
const anyChar = fc.oneof(
  { arbitrary: basic, weight: 10 },
  { arbitrary: extension, weight: 3 },
  { arbitrary: nonGsmBmp, weight: 1 },
  { arbitrary: astral, weight: 1 },
);
/** Mostly-GSM bodies (one odd character turns the whole body into UCS-2). */
const gsmBody = fc
  .array(fc.oneof({ arbitrary: basic, weight: 5 }, { arbitrary: extension, weight: 1 }), {
    maxLength: 700,
  })
  .map((cs) => cs.join(""));
const mixedBody = fc.array(anyChar, { maxLength: 500 }).map((cs) => cs.join(""));
/** Bodies whose size sits right at a single-message or part boundary, where mistakes hide. */
const boundaryBody = fc
  .record({
    filler: fc.constantFrom("a", "{", "ś", EMOJI),
    n: fc.constantFrom(65, 66, 67, 68, 69, 70, 71, 133, 134, 135, 152, 153, 154, 159, 160, 161),
    extra: fc.array(anyChar, { maxLength: 3 }),
    at: fc.nat(),
  })
  .map(({ filler, n, extra, at }) => {
    const cs = Array.from(rep(filler, n));
    cs.splice(at % (cs.length + 1), 0, ...extra);
    return cs.join("");
  });

// ---- Tests -----------------------------------------------------------------------------------

describe("the reference model", () => {
  it("has the 127 one-septet characters and 10 two-septet ones of GSM 03.38", () => {
    expect(new Set(MODEL_BASIC).size).toBe(127);
    expect(new Set(MODEL_EXTENSION).size).toBe(10);
    expect(MODEL_BASIC.some((c) => MODEL_EXTENSION.includes(c))).toBe(false);
  });

  // Twilio's published examples (twilio.com/docs/glossary/what-sms-character-limit, "What the
  // heck is a segment?", and its message-segment-calculator), so the model itself is right.
  it.each([
    ["160 GSM-7 characters", rep("a", 160), "GSM-7", 160, 1],
    ["161 GSM-7 characters", rep("a", 161), "GSM-7", 161, 2],
    ["306 GSM-7 characters (2 × 153)", rep("a", 306), "GSM-7", 306, 2],
    ["307 GSM-7 characters", rep("a", 307), "GSM-7", 307, 3],
    ["80 € (extension: two septets each)", rep("€", 80), "GSM-7", 160, 1],
    ["159 characters and one ^", rep("a", 159) + "^", "GSM-7", 161, 2],
    ["one of each extension character", MODEL_EXTENSION.join(""), "GSM-7", 20, 1],
    ["70 UCS-2 characters", rep("ж", 70), "UCS-2", 70, 1],
    ["71 UCS-2 characters", rep("ж", 71), "UCS-2", 71, 2],
    ["134 UCS-2 characters (2 × 67)", rep("ж", 134), "UCS-2", 134, 2],
    ["135 UCS-2 characters", rep("ж", 135), "UCS-2", 135, 3],
    ["one emoji is UCS-2, two units", EMOJI, "UCS-2", 2, 1],
    ["159 GSM characters and one emoji", rep("a", 159) + EMOJI, "UCS-2", 161, 3],
    ["68 GSM characters and one emoji (70 units)", rep("a", 68) + EMOJI, "UCS-2", 70, 1],
    ["69 GSM characters and one emoji (71 units)", rep("a", 69) + EMOJI, "UCS-2", 71, 2],
    ["152 GSM characters and one ś", rep("a", 152) + "ś", "UCS-2", 153, 3],
  ])("%s", (_name, body, encoding, units, segments) => {
    const m = model(body);
    expect({ encoding: m.encoding, units: m.units, segments: m.segments }).toEqual({
      encoding,
      units,
      segments,
    });
  });

  it("keeps escape and surrogate pairs whole at a part boundary", () => {
    // 152 septets, then "{" (2) does not fit in 153: it starts part 2.
    expect(model(rep("a", 152) + "{" + rep("a", 10)).parts.map((p) => p.length)).toEqual([152, 11]);
    // 66 units, then the emoji (2) does not fit in 67: it starts part 2.
    expect(model(rep("ś", 66) + EMOJI + rep("ś", 10)).parts.map((p) => p.length)).toEqual([66, 12]);
  });
});

describe("countSegments agrees with the reference model", () => {
  const agrees = (body: string) => {
    const m = model(body);
    expect(countSegments(body), JSON.stringify(body.slice(0, 80))).toEqual({
      encoding: m.encoding,
      units: m.units,
      segments: m.segments,
    });
  };

  it("on GSM-7 bodies with extension characters", () => {
    fc.assert(fc.property(gsmBody, agrees), { numRuns: 300 });
  });

  it("on bodies mixing GSM-7, non-GSM BMP and astral characters", () => {
    fc.assert(fc.property(mixedBody, agrees), { numRuns: 300 });
  });

  it("on bodies sized at the single-message and part boundaries", () => {
    fc.assert(fc.property(boundaryBody, agrees), { numRuns: 400 });
  });
});

describe("properties of the model's parts (what countSegments counts)", () => {
  it("parts rebuild the body, fit their size, and never split a pair", () => {
    fc.assert(
      fc.property(fc.oneof(gsmBody, mixedBody, boundaryBody), (body) => {
        const m = model(body);
        expect(m.parts.join("")).toBe(body);
        if (m.segments === 1) return;
        // Every part ends where a code point ends: no surrogate pair is cut in two (and an
        // extension character is one code point, so its escape pair is not cut either).
        const ends = new Set<number>();
        let offset = 0;
        for (const c of Array.from(body)) ends.add((offset += c.length));
        let at = 0;
        for (const p of m.parts) {
          expect(ends.has((at += p.length))).toBe(true);
          const units =
            m.encoding === "GSM-7"
              ? Array.from(p).reduce((t, c) => t + (MODEL_EXTENSION.includes(c) ? 2 : 1), 0)
              : p.length;
          expect(units).toBeLessThanOrEqual(m.encoding === "GSM-7" ? 153 : 67);
          expect(p.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("adding a character never reduces the count (a prefix never costs more)", () => {
    fc.assert(
      fc.property(fc.oneof(gsmBody, mixedBody, boundaryBody), anyChar, (body, c) => {
        const before = countSegments(body);
        const after = countSegments(body + c);
        expect(after.segments).toBeGreaterThanOrEqual(before.segments);
        // Units are septets or UTF-16 units: comparable only within one encoding.
        if (after.encoding === before.encoding) {
          expect(after.units).toBeGreaterThan(before.units);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("one non-GSM character anywhere makes the whole body UCS-2", () => {
    fc.assert(
      fc.property(gsmBody, fc.oneof(nonGsmBmp, astral), fc.nat(), (body, odd, at) => {
        const cs = Array.from(body);
        cs.splice(at % (cs.length + 1), 0, odd);
        const r = countSegments(cs.join(""));
        expect(r.encoding).toBe("UCS-2");
        expect(r.units).toBe(cs.join("").length);
      }),
      { numRuns: 200 },
    );
  });
});
