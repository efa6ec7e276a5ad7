import { createHash } from "node:crypto";

/** JSON with object keys sorted, so equal payloads hash equally whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** SHA-256 of the canonical JSON of a request payload. */
export function requestHash(v: unknown): string {
  return createHash("sha256").update(canonicalJson(v)).digest("hex");
}
