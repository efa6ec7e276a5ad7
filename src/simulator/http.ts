/**
 * Small HTTP helpers shared by the provider handlers: body reading, JSON answers, each
 * provider's error envelope, ids and dates. Kept allocation-light: they run on every request.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

const MAX_BODY = 1 << 20;

/** A request body over the size limit. */
export class BodyTooLarge extends Error {}

/** Reads the whole request body as UTF-8 (at most 1 MiB). */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new BodyTooLarge("request body over 1 MiB"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () =>
      resolve(
        chunks.length === 1
          ? (chunks[0] as Buffer).toString("utf8")
          : Buffer.concat(chunks).toString("utf8"),
      ),
    );
    req.on("error", reject);
  });
}

/** Answers `status` with a JSON body, unless the client is already gone. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed || res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** Twilio's error body: exactly {code, message, more_info, status}. */
export function twilioError(code: number | string, message: string, status: number) {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

/** Dialpad's (Google-API style) error envelope. */
export function dialpadError(status: number, reason: string, message: string) {
  return { error: { code: status, errors: [{ domain: "global", message, reason }], message } };
}

// Ids: a random per-process prefix plus a counter; unique within a run, cheap to make.
const prefix = randomBytes(8).toString("hex");
let counter = 0;

/** A 32-hex-digit id part (for SM… sids). */
export function hexId(): string {
  counter += 1;
  return prefix + counter.toString(16).padStart(16, "0");
}

let cachedSecond = -1;
let cachedDate = "";

/** RFC 2822 date as Twilio writes it: "Thu, 24 Aug 2023 05:01:45 +0000". */
export function rfc2822(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s === cachedSecond) return cachedDate;
  const d = new Date(s * 1000).toUTCString().replace("GMT", "+0000");
  cachedSecond = s;
  cachedDate = d;
  return d;
}

/** E.164: a plus, a non-zero digit, at most 15 digits in all. */
export const E164 = /^\+[1-9]\d{1,14}$/;

/** Splits a request target into path and query. */
export function splitUrl(url: string): { path: string; query: URLSearchParams } {
  const q = url.indexOf("?");
  if (q < 0) return { path: url, query: new URLSearchParams() };
  return { path: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}

/** Destroys the connection without an answer (the "dropped" fault). */
export function dropConnection(req: IncomingMessage, res: ServerResponse): void {
  res.destroy();
  req.socket.destroy();
}
