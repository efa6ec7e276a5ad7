import {
  parsePhoneNumberFromString,
  isSupportedCountry,
  type CountryCode,
} from "libphonenumber-js/max";

const E164 = /^\+[1-9]\d{1,14}$/;

/**
 * Normalises a phone number to E.164, or returns null when it is not a valid number. A number
 * with an extension ("x12", "ext. 12", "#12", ";ext=12", and "a;b", which libphonenumber reads
 * as a number and an extension) is refused: an SMS cannot reach an extension, and sending to
 * the main line would text someone else.
 */
export function toE164(input: string, defaultRegion: string): string | null {
  const region = isSupportedCountry(defaultRegion) ? (defaultRegion as CountryCode) : undefined;
  const parsed = parsePhoneNumberFromString(input.trim(), region);
  if (!parsed || !parsed.isValid() || parsed.ext) return null;
  // libphonenumber's metadata allows a few national numbers longer than E.164's 15 digits
  // (found by the property test: +4980000000000000); no provider accepts them.
  return E164.test(parsed.number) ? parsed.number : null;
}

/** True when libphonenumber knows the region code (e.g. "US", "GB"). */
export function isKnownRegion(region: string): boolean {
  return isSupportedCountry(region);
}

/** Masks a phone number for logs: +1415•••••71 (the one implementation is in src/log.ts). */
export { maskPhone } from "../log.js";
