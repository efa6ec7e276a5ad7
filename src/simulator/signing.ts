/**
 * Webhook signing as the providers do it: Twilio's X-Twilio-Signature and Dialpad's HS256 JWT.
 */
import { createHmac } from "node:crypto";
import { SignJWT } from "jose";

/**
 * X-Twilio-Signature: base64(HMAC-SHA1(authToken, url + key1 + value1 + key2 + value2 …)), the
 * keys in plain JS sort order; an array value is deduplicated, sorted and appended as key+value
 * for each element (twilio-node's getExpectedTwilioSignature).
 */
export function twilioSignature(
  authToken: string,
  url: string,
  params: Record<string, string | readonly string[]>,
): string {
  let data = url;
  for (const key of Object.keys(params).sort()) {
    const v = params[key] as string | readonly string[];
    if (typeof v === "string") data += key + v;
    else for (const x of [...new Set(v)].sort()) data += key + x;
  }
  return createHmac("sha1", authToken).update(data, "utf8").digest("base64");
}

const keys = new Map<string, Uint8Array>();

/** Dialpad's signed webhook body: the event as a compact HS256 JWT with the webhook's secret. */
export async function dialpadJwt(
  payload: Record<string, unknown>,
  secret: string,
): Promise<string> {
  let key = keys.get(secret);
  if (!key) {
    key = new TextEncoder().encode(secret);
    if (keys.size > 100) keys.clear();
    keys.set(secret, key);
  }
  return new SignJWT(payload).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
}
