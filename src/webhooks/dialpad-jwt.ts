/**
 * Dialpad signs webhook events as a compact JWT, HS256 with the webhook's shared secret, and
 * posts the token as the body (fact sheet B3, DP-SPEC). Only HS256 is accepted, so a token with
 * `alg: none`, another HMAC or an RSA algorithm (the classic key-confusion trick) is refused.
 */
import { jwtVerify } from "jose";
import { parseDialpadJson } from "../providers/dialpad-status.js";

/** The event a Dialpad webhook body carries, or null unless it is HS256-signed with `secret`. */
export async function verifyDialpadJwt(
  secret: string,
  body: string,
): Promise<Record<string, unknown> | null> {
  // An empty secret would make every forger's HMAC valid.
  if (!secret) return null;
  const token = body.trim();
  try {
    await jwtVerify(token, new TextEncoder().encode(secret), {
      algorithms: ["HS256"],
      // Only matters if Dialpad sets exp/nbf: allow for clock skew between us and them.
      clockTolerance: 300,
    });
    // Re-read the (now verified) payload keeping int64 ids exact, as the send path does, so
    // a receipt's id matches the one recorded from the send response.
    const segment = token.split(".")[1] ?? "";
    const payload = parseDialpadJson(Buffer.from(segment, "base64url").toString("utf8"));
    return typeof payload === "object" && payload !== null && !Array.isArray(payload)
      ? (payload as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
