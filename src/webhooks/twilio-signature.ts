/**
 * Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the Auth Token, of the URL Twilio
 * requested followed by every POST parameter sorted by name (name + value). This mirrors
 * twilio-node's `getExpectedTwilioSignature` / `validateRequest` (lib/webhooks/webhooks.js,
 * v6.2), which the tests cross-check against, including its URL variants: Twilio's back ends
 * sign the URL inconsistently, with or without the port and with the query escaped or not.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { parse as parseQuery, stringify as stringifyQuery } from "node:querystring";

export type TwilioParams = Record<string, string | readonly string[]>;

/** The signature Twilio sends for a request to `url` with these form params. */
export function twilioSignature(authToken: string, url: string, params: TwilioParams): string {
  let data = url;
  // Plain JS sort (UTF-16 code units), as twilio-node does.
  for (const key of Object.keys(params).sort()) {
    const value = params[key];
    if (typeof value === "string") {
      data += key + value;
    } else if (value !== undefined) {
      // A repeated key: twilio-node drops duplicate values and sorts the rest.
      for (const v of [...new Set(value)].sort()) data += key + v;
    }
  }
  return createHmac("sha1", authToken).update(Buffer.from(data, "utf8")).digest("base64");
}

/** True when `signature` is Twilio's for this URL (or a known variant of it) and params. */
export function verifyTwilioSignature(
  authToken: string,
  url: string,
  params: TwilioParams,
  signature: string | undefined,
): boolean {
  if (!signature || !authToken) return false;
  const given = Buffer.from(signature, "utf8");
  const matches = (candidate: string) => {
    const expected = Buffer.from(twilioSignature(authToken, candidate, params), "utf8");
    // timingSafeEqual throws on different lengths; the expected length is public (28).
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  // The URL as received, without its port and with the default one.
  if (matches(removePort(url)) || matches(addPort(url))) return true;
  // Then the URL as WHATWG normalises it (escapes some characters), with the legacy
  // `querystring` re-encoding of its query too, for back ends that signed an escaped form.
  let normalized: string;
  try {
    normalized = new URL(url).toString();
  } catch {
    return false;
  }
  const without = removePort(normalized);
  const withPort = addPort(normalized);
  return [without, withPort, legacyQuery(without), legacyQuery(withPort)].some(matches);
}

interface UrlParts {
  scheme: string;
  userInfo: string;
  host: string;
  port: string;
  rest: string;
}

/** Splits a URL without normalising it, so path and query keep the characters Twilio signed. */
function splitUrl(url: string): UrlParts | null {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)/i.exec(url);
  if (!m) return null;
  const scheme = m[1] ?? "";
  const authority = m[2] ?? "";
  const at = authority.lastIndexOf("@");
  const hostPort = authority.slice(at + 1);
  // A colon starts the port only after an IPv6 literal's closing bracket.
  const colon = hostPort.indexOf(":", hostPort.lastIndexOf("]") + 1);
  return {
    scheme,
    userInfo: authority.slice(0, at + 1),
    host: colon === -1 ? hostPort : hostPort.slice(0, colon),
    port: colon === -1 ? "" : hostPort.slice(colon),
    rest: url.slice(m[0].length),
  };
}

/** The URL with the scheme's default port when it has none (":443" https, ":80" otherwise). */
function addPort(url: string): string {
  const p = splitUrl(url);
  if (!p || p.port) return url;
  const port = p.scheme.toLowerCase() === "https://" ? ":443" : ":80";
  return p.scheme + p.userInfo + p.host + port + p.rest;
}

/** The URL without its port (any port, as twilio-node does). */
function removePort(url: string): string {
  const p = splitUrl(url);
  return p ? p.scheme + p.userInfo + p.host + p.rest : url;
}

/** The URL with its query re-encoded by Node's legacy `querystring` (e.g. `'` → `%27`). */
function legacyQuery(url: string): string {
  const q = url.indexOf("?");
  if (q === -1 || q === url.length - 1) return url;
  return url.slice(0, q) + "?" + stringifyQuery(parseQuery(url.slice(q + 1)));
}
