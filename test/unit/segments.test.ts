import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { countSegments } from "../../src/messages/segments.js";

// GSM 03.38 basic table, written as code points from the specification (0x1B ESC left out).
const GSM_BASIC_CODEPOINTS = [
  0x40, 0xa3, 0x24, 0xa5, 0xe8, 0xe9, 0xf9, 0xec, 0xf2, 0xc7, 0x0a, 0xd8, 0xf8, 0x0d, 0xc5, 0xe5,
  0x394, 0x5f, 0x3a6, 0x393, 0x39b, 0x3a9, 0x3a0, 0x3a8, 0x3a3, 0x398, 0x39e, 0xc6, 0xe6, 0xdf,
  0xc9, 0x20, 0x21, 0x22, 0x23, 0xa4, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e,
  0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e,
  0x3f, 0xa1, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e,
  0x4f, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0xc4, 0xd6, 0xd1, 0xdc,
  0xa7, 0xbf, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e,
  0x6f, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0xe4, 0xf6, 0xf1, 0xfc,
  0xe0,
];
const GSM_BASIC = GSM_BASIC_CODEPOINTS.map((c) => String.fromCodePoint(c));
// GSM 03.38 extension table: form feed ^ { } \ [ ~ ] | €.
const GSM_EXT = ["\u000c", "^", "{", "}", "\\", "[", "~", "]", "|", "\u20ac"];

const a = (n: number) => "a".repeat(n);
const s = (n: number) => "\u015b".repeat(n); // "ś": outside GSM-7, one UTF-16 unit
const EMOJI = "\u{1F600}"; // 😀: a surrogate pair, two UTF-16 units

describe("GSM-7 counting", () => {
  it("the reference alphabet has 127 distinct one-septet characters", () => {
    expect(new Set(GSM_BASIC).size).toBe(127);
  });

  it("every basic character is one septet and every extension character two", () => {
    for (const ch of GSM_BASIC) {
      expect(countSegments(ch), JSON.stringify(ch)).toEqual({
        encoding: "GSM-7",
        units: 1,
        segments: 1,
      });
    }
    for (const ch of GSM_EXT) {
      expect(countSegments(ch), JSON.stringify(ch)).toEqual({
        encoding: "GSM-7",
        units: 2,
        segments: 1,
      });
    }
  });

  it.each([
    [1, 1],
    [160, 1],
    [161, 2],
    [306, 2],
    [307, 3],
    [459, 3],
    [460, 4],
  ])("%i basic characters make %i segment(s)", (n, segments) => {
    expect(countSegments(a(n))).toEqual({ encoding: "GSM-7", units: n, segments });
  });

  it("extension characters count two septets", () => {
    expect(countSegments("{".repeat(80))).toEqual({ encoding: "GSM-7", units: 160, segments: 1 });
    expect(countSegments("{".repeat(81))).toEqual({ encoding: "GSM-7", units: 162, segments: 2 });
    for (const ch of GSM_EXT) {
      expect(countSegments(a(158) + ch).segments, JSON.stringify(ch)).toBe(1);
      expect(countSegments(a(159) + ch), JSON.stringify(ch)).toEqual({
        encoding: "GSM-7",
        units: 161,
        segments: 2,
      });
    }
  });

  it("never splits an escape pair across parts", () => {
    // 152 + 2 = 154 > 153: the "{" moves to part 2, which then holds 2 + 152 = 154 > 153.
    expect(countSegments(a(152) + "{" + a(152))).toEqual({
      encoding: "GSM-7",
      units: 306,
      segments: 3,
    });
    // Same total with the pair ending exactly at the part boundary: 151 + 2 = 153, then 153.
    expect(countSegments(a(151) + "{" + a(153)).segments).toBe(2);
    // Pair starting part 2: 153, then 2 + 151 = 153.
    expect(countSegments(a(153) + "{" + a(151)).segments).toBe(2);
    // 152 + "{" alone is 154 septets, which fits in a single 160-septet message.
    expect(countSegments(a(152) + "{").segments).toBe(1);
    // 152 + "{" + 7 = 161: part 1 = 152, part 2 = 9.
    expect(countSegments(a(152) + "{" + a(7)).segments).toBe(2);
  });

  it("accented characters of the GSM table stay GSM-7", () => {
    expect(countSegments("ü" + a(160))).toEqual({ encoding: "GSM-7", units: 161, segments: 2 });
    expect(countSegments("Grüße à Ñoño, Øre").encoding).toBe("GSM-7");
  });
});

describe("UCS-2 counting", () => {
  it.each([
    ["ś", "\u015b"],
    ["emoji", EMOJI],
    ["backtick", "`"],
    ["lowercase Greek", "\u03b4"],
    ["ç (only Ç is GSM)", "\u00e7"],
  ])("one %s makes the whole message UCS-2", (_name, ch) => {
    const r = countSegments(a(10) + ch + a(10));
    expect(r.encoding).toBe("UCS-2");
    expect(r.units).toBe(20 + ch.length);
  });

  it.each([
    [70, 1],
    [71, 2],
    [134, 2],
    [135, 3],
    [201, 3],
    [202, 4],
  ])("%i UCS-2 units make %i segment(s)", (n, segments) => {
    expect(countSegments(s(n))).toEqual({ encoding: "UCS-2", units: n, segments });
    // The same with GSM characters plus one non-GSM character.
    expect(countSegments(a(n - 1) + "\u015b").segments).toBe(segments);
  });

  it("an emoji counts two units", () => {
    expect(countSegments(EMOJI)).toEqual({ encoding: "UCS-2", units: 2, segments: 1 });
    expect(countSegments(s(66) + EMOJI)).toEqual({ encoding: "UCS-2", units: 68, segments: 1 });
    expect(countSegments(s(68) + EMOJI)).toEqual({ encoding: "UCS-2", units: 70, segments: 1 });
    expect(countSegments(s(69) + EMOJI)).toEqual({ encoding: "UCS-2", units: 71, segments: 2 });
    expect(countSegments(EMOJI.repeat(35))).toEqual({ encoding: "UCS-2", units: 70, segments: 1 });
  });

  it("never splits a surrogate pair across parts", () => {
    // 66 + 2 = 68 > 67: the emoji moves to part 2, which then holds 2 + 66 = 68 > 67.
    expect(countSegments(s(66) + EMOJI + s(66))).toEqual({
      encoding: "UCS-2",
      units: 134,
      segments: 3,
    });
    // The pair ends exactly at the boundary: 65 + 2 = 67, then 67.
    expect(countSegments(s(65) + EMOJI + s(67)).segments).toBe(2);
    // 36 emoji = 72 units: 33 per part (66 units), so 2 parts.
    expect(countSegments(EMOJI.repeat(36)).segments).toBe(2);
    // 67 emoji = 134 units: 33 + 33 + 1 emoji, 3 parts although 134 / 67 = 2.
    expect(countSegments(EMOJI.repeat(67)).segments).toBe(3);
  });

  it("Twilio's example: 152 GSM characters and one unicode character are 3 segments", () => {
    // 153 UCS-2 units: 67 + 67 + 19.
    expect(countSegments(a(152) + "\u015b")).toEqual({
      encoding: "UCS-2",
      units: 153,
      segments: 3,
    });
  });
});

describe("segment properties", () => {
  it("basic GSM strings: n <= 160 ? 1 : ceil(n / 153)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...GSM_BASIC), { minLength: 1, maxLength: 700 }),
        (cs) => {
          const n = cs.length;
          const r = countSegments(cs.join(""));
          expect(r.encoding).toBe("GSM-7");
          expect(r.units).toBe(n);
          expect(r.segments).toBe(n <= 160 ? 1 : Math.ceil(n / 153));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("GSM strings with extension characters lose at most one septet per part", () => {
    const ch = fc.oneof(fc.constantFrom(...GSM_BASIC), fc.constantFrom(...GSM_EXT));
    fc.assert(
      fc.property(fc.array(ch, { minLength: 1, maxLength: 700 }), (cs) => {
        const units = cs.reduce((t, c) => t + (GSM_EXT.includes(c) ? 2 : 1), 0);
        const r = countSegments(cs.join(""));
        expect(r.encoding).toBe("GSM-7");
        expect(r.units).toBe(units);
        if (units <= 160) {
          expect(r.segments).toBe(1);
        } else {
          expect(r.segments).toBeGreaterThanOrEqual(Math.ceil(units / 153));
          expect(r.segments).toBeLessThanOrEqual(Math.ceil(units / 152));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("UCS-2 strings: BMP only is n <= 70 ? 1 : ceil(n / 67); with pairs at most one unit lost per part", () => {
    const bmp = fc.constantFrom("\u015b", "\u4e2d", "\u0416", "a", "\u00e7");
    const astral = fc.constantFrom(EMOJI, "\u{1F680}", "\u{20000}");
    fc.assert(
      fc.property(
        fc.array(bmp, { minLength: 1, maxLength: 300 }),
        fc.array(fc.oneof(bmp, astral), { minLength: 1, maxLength: 300 }),
        (plain, mixed) => {
          const body = "\u015b" + plain.join("");
          const n = body.length;
          expect(countSegments(body)).toEqual({
            encoding: "UCS-2",
            units: n,
            segments: n <= 70 ? 1 : Math.ceil(n / 67),
          });
          const m = "\u015b" + mixed.join("");
          const r = countSegments(m);
          expect(r.units).toBe(m.length);
          if (m.length <= 70) {
            expect(r.segments).toBe(1);
          } else {
            expect(r.segments).toBeGreaterThanOrEqual(Math.ceil(m.length / 67));
            expect(r.segments).toBeLessThanOrEqual(Math.ceil(m.length / 66));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
