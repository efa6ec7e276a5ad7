/**
 * Phone normalisation: properties of toE164 on random input, and independent vectors (numbers
 * written out by hand with their country code, trunk prefix and international call prefix) in
 * every formatting people type them in.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isSmsqError } from "../../src/errors.js";
import { isKnownRegion, toE164 } from "../../src/messages/phone.js";
import { validateMessage } from "../../src/messages/validate.js";

const E164 = /^\+[1-9]\d{1,14}$/;
const REGIONS = ["US", "GB", "FR", "DE", "AU", "JP", "IN", "BR", "CA", "ZZ", "", "us", "XX"];

interface Vector {
  e164: string;
  cc: string;
  /** National significant number. */
  nsn: string;
  region: string;
  /** Trunk prefix dialled before the NSN inside the country ("" when none is used). */
  trunk: string;
}

// Valid numbers of several numbering plans (fixed lines and mobiles), written out by hand.
const VECTORS: Vector[] = [
  { e164: "+14155552671", cc: "1", nsn: "4155552671", region: "US", trunk: "1" },
  { e164: "+12125550123", cc: "1", nsn: "2125550123", region: "US", trunk: "1" },
  { e164: "+442071838750", cc: "44", nsn: "2071838750", region: "GB", trunk: "0" },
  { e164: "+447400123456", cc: "44", nsn: "7400123456", region: "GB", trunk: "0" },
  { e164: "+33142685300", cc: "33", nsn: "142685300", region: "FR", trunk: "0" },
  { e164: "+33612345678", cc: "33", nsn: "612345678", region: "FR", trunk: "0" },
  { e164: "+4930901820", cc: "49", nsn: "30901820", region: "DE", trunk: "0" },
  { e164: "+61293744000", cc: "61", nsn: "293744000", region: "AU", trunk: "0" },
  { e164: "+81332249999", cc: "81", nsn: "332249999", region: "JP", trunk: "0" },
  { e164: "+919876543210", cc: "91", nsn: "9876543210", region: "IN", trunk: "0" },
];

// International call prefixes ("00 where supported"), by the region dialling out.
const IDD: [region: string, prefix: string][] = [
  ["GB", "00"],
  ["FR", "00"],
  ["DE", "00"],
  ["IN", "00"],
  ["US", "011"],
  ["AU", "0011"],
  ["JP", "010"],
];

// ---- Generators ------------------------------------------------------------------------------

const sep = fc.constantFrom(" ", "-", ".", "  ", " - ", "\u00a0", "\u2011", "\u2013", "/");
/**
 * `digits` with separators put between random digits, one group maybe in parentheses, and
 * whitespace around; `lead` (e.g. "+") stays in front.
 */
function formatted(lead: string, digits: string): fc.Arbitrary<string> {
  return fc
    .record({
      cuts: fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, digits.length - 1) }), {
        maxLength: 4,
      }),
      seps: fc.array(sep, { minLength: 4, maxLength: 4 }),
      paren: fc.boolean(),
      pad: fc.tuple(fc.constantFrom("", " ", "\t", "\n"), fc.constantFrom("", " ", "\r\n")),
    })
    .map(({ cuts, seps, paren, pad }) => {
      const points = [0, ...cuts.filter((c) => c < digits.length).sort((a, b) => a - b)];
      const groups = points.map((p, i) => digits.slice(p, points[i + 1] ?? digits.length));
      // Parentheses around the second group (the area code, typically), when there is one.
      if (paren && groups.length > 2) groups[1] = `(${groups[1]})`;
      const body = groups.map((g, i) => (i === 0 ? g : (seps[i - 1] ?? " ") + g)).join("");
      return pad[0] + lead + body + pad[1];
    });
}

/** Random E.164-shaped candidates: mostly plausible, so that many are valid numbers. */
const candidate = fc.oneof(
  fc.stringMatching(/^\+1[2-9]\d{2}[2-9]\d{6}$/),
  fc.stringMatching(/^\+447[1-9]\d{8}$/),
  fc.stringMatching(/^\+336\d{8}$/),
  fc.stringMatching(/^\+49(15|16|17)\d{8,9}$/),
  fc.stringMatching(/^\+61[24]\d{8}$/),
  fc.stringMatching(/^\+91[6-9]\d{9}$/),
  fc.stringMatching(/^\+[1-9]\d{5,16}$/),
);
/** Anything at all: any code point, any UTF-16 unit (lone surrogates), long input. */
const garbage = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: fc.nat(0xffff).map((n) => String.fromCharCode(n)), maxLength: 40 }),
  fc.stringMatching(/^[+0-9 ()\-.xX#*;,/]{0,30}$/),
  fc.string({ minLength: 200, maxLength: 5000 }),
  // A plausible number followed by a few random characters.
  fc.tuple(candidate, fc.string({ maxLength: 5 })).map(([c, tail]) => c + tail),
);
const region = fc.oneof(fc.constantFrom(...REGIONS), fc.string({ maxLength: 4 }));

// ---- Tests -----------------------------------------------------------------------------------

describe("toE164 vectors", () => {
  it("every vector is valid as written in E.164, from any region", () => {
    for (const v of VECTORS) {
      expect(v.e164).toBe(`+${v.cc}${v.nsn}`);
      for (const r of REGIONS) expect(toE164(v.e164, r), `${v.e164} in ${r}`).toBe(v.e164);
    }
  });

  it("international forms with any spacing, dashes, dots and parentheses give the same number", () => {
    const v = fc.constantFrom(...VECTORS);
    fc.assert(
      fc.property(
        v.chain((x) => fc.tuple(fc.constant(x), formatted("+", x.cc + x.nsn))),
        fc.constantFrom(...REGIONS),
        ([x, input], r) => {
          expect(toE164(input, r), JSON.stringify(input)).toBe(x.e164);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("national forms in the number's own region give the same number", () => {
    const national = fc.constantFrom(...VECTORS).chain((x) =>
      // US numbers are dialled with or without the leading 1.
      fc
        .constantFrom(x.trunk + x.nsn, ...(x.region === "US" ? [x.nsn] : []))
        .chain((digits) => formatted("", digits))
        .map((input) => [x, input] as const),
    );
    fc.assert(
      fc.property(national, ([x, input]) => {
        expect(toE164(input, x.region), JSON.stringify(input)).toBe(x.e164);
      }),
      { numRuns: 200 },
    );
  });

  it("the international call prefix (00, 011, 0011, 010) stands for + in its region", () => {
    const dialled = fc
      .tuple(fc.constantFrom(...VECTORS), fc.constantFrom(...IDD))
      .chain(([x, [r, prefix]]) =>
        formatted("", prefix + x.cc + x.nsn).map((input) => [x, r, input] as const),
      );
    fc.assert(
      fc.property(dialled, ([x, r, input]) => {
        expect(toE164(input, r), `${JSON.stringify(input)} in ${r}`).toBe(x.e164);
      }),
      { numRuns: 200 },
    );
  });

  it("refuses a number carrying an extension or a second number after a separator", () => {
    // SMS cannot reach an extension: sending to the main line would text someone else, and
    // "a;b" is two numbers, not a number and an extension.
    for (const input of [
      "+1 415 555 2671 ext. 12",
      "+14155552671 x123",
      "+1 415 555 2671 #123",
      "4155552671;4155550000",
      "+1-415-555-2671;ext=1",
    ]) {
      expect(toE164(input, "US"), input).toBeNull();
    }
  });
});

describe("toE164 properties", () => {
  it("never throws; returns null or an E.164 number", () => {
    fc.assert(
      fc.property(fc.oneof(garbage, candidate), region, (input, r) => {
        const out = toE164(input, r);
        if (out !== null) expect(out).toMatch(E164);
        expect(typeof isKnownRegion(r)).toBe("boolean");
      }),
      { numRuns: 1000 },
    );
  });

  it("is idempotent, and its output means the same number in every region", () => {
    fc.assert(
      fc.property(fc.oneof(candidate, garbage), region, region, (input, r1, r2) => {
        const out = toE164(input, r1);
        if (out === null) return;
        expect(toE164(out, r1)).toBe(out);
        expect(toE164(out, r2)).toBe(out);
      }),
      { numRuns: 500 },
    );
  });

  it("formatting variants of an accepted number normalise to it", () => {
    const accepted = candidate
      .map((c) => toE164(c, "US"))
      .filter((out): out is string => out !== null)
      .chain((out) => formatted("+", out.slice(1)).map((input) => [out, input] as const));
    fc.assert(
      fc.property(accepted, fc.constantFrom(...REGIONS), ([out, input], r) => {
        expect(toE164(input, r), JSON.stringify(input)).toBe(out);
        // And with the international call prefix of a region instead of the +.
        expect(toE164("00" + out.slice(1), "GB")).toBe(out);
        expect(toE164("011 " + out.slice(1), "US")).toBe(out);
      }),
      { numRuns: 300 },
    );
  });

  it("validateMessage refuses a bad to or from only with invalid_phone naming the field", () => {
    const settings = { defaultRegion: "US", maxSegments: 10 };
    fc.assert(
      fc.property(fc.oneof(garbage, candidate), fc.oneof(garbage, candidate), (to, from) => {
        try {
          const m = validateMessage({ to, from, body: "hi" }, settings, new Date());
          expect(m.to).toMatch(E164);
        } catch (e) {
          expect(isSmsqError(e), String(e)).toBe(true);
          const err = e as { code: string; field?: string };
          expect(err.code).toBe("invalid_phone");
          expect(["to", "from"]).toContain(err.field);
        }
      }),
      { numRuns: 500 },
    );
  });
});
