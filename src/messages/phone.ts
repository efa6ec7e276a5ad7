import {
  parsePhoneNumberFromString,
  isSupportedCountry,
  type CountryCode,
} from "libphonenumber-js/max";

/** Normalises a phone number to E.164, or returns null when it is not a valid number. */
export function toE164(input: string, defaultRegion: string): string | null {
  const region = isSupportedCountry(defaultRegion) ? (defaultRegion as CountryCode) : undefined;
  const parsed = parsePhoneNumberFromString(input.trim(), region);
  if (!parsed || !parsed.isValid()) return null;
  return parsed.number;
}

/** True when libphonenumber knows the region code (e.g. "US", "GB"). */
export function isKnownRegion(region: string): boolean {
  return isSupportedCountry(region);
}

/** Masks a phone number for logs: +1415•••••71. */
export function maskPhone(e164: string): string {
  if (e164.length <= 6) return "•••";
  return e164.slice(0, 5) + "•".repeat(e164.length - 7) + e164.slice(-2);
}
