/**
 * Exact SMS segment counting, as carriers and Twilio count them.
 * GSM-7: 160 septets alone, 153 per part of a concatenated message; the extension characters
 * (^ { } \ [ ~ ] | € and form feed) take an escape septet, so they count twice, and an escape
 * pair is never split across parts. Anything outside GSM-7 makes the whole message UCS-2:
 * 70 UTF-16 units alone, 67 per part; a character beyond the BMP is a surrogate pair (two
 * units) that is never split either.
 */
export type Encoding = "GSM-7" | "UCS-2";

export interface SegmentInfo {
  encoding: Encoding;
  segments: number;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2) the body takes. */
  units: number;
}

// GSM 03.38 default alphabet (basic table), every character that takes one septet.
const GSM_BASIC =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
// GSM 03.38 extension table: escape + one septet, so two septets each.
const GSM_EXTENDED = "\f^{}\\[~]|€";

const BASIC = new Set(GSM_BASIC);
const EXTENDED = new Set(GSM_EXTENDED);

const GSM_SINGLE = 160;
const GSM_PART = 153;
const UCS2_SINGLE = 70;
const UCS2_PART = 67;

/** Septet cost of each character, or null when the body is not GSM-7. */
function gsmUnits(body: string): number[] | null {
  const units: number[] = [];
  for (const ch of body) {
    if (BASIC.has(ch)) units.push(1);
    else if (EXTENDED.has(ch)) units.push(2);
    else return null;
  }
  return units;
}

/** Number of parts when indivisible items of the given sizes are packed into parts of `size`. */
function pack(units: readonly number[], size: number): number {
  let parts = 1;
  let used = 0;
  for (const u of units) {
    if (used + u > size) {
      parts += 1;
      used = 0;
    }
    used += u;
  }
  return parts;
}

/** Counts the segments of a message body exactly (see the module comment for the rules). */
export function countSegments(body: string): SegmentInfo {
  const gsm = gsmUnits(body);
  if (gsm) {
    const total = gsm.reduce((a, b) => a + b, 0);
    return {
      encoding: "GSM-7",
      units: total,
      segments: total <= GSM_SINGLE ? 1 : pack(gsm, GSM_PART),
    };
  }
  // Iterating a string yields code points: a surrogate pair comes out as one 2-unit item.
  const ucs: number[] = [];
  for (const ch of body) ucs.push(ch.length);
  const total = body.length;
  return {
    encoding: "UCS-2",
    units: total,
    segments: total <= UCS2_SINGLE ? 1 : pack(ucs, UCS2_PART),
  };
}
