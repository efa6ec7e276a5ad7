// The provider call the peers make: Twilio's create-message request to the simulator, as a
// user of pg-boss or BullMQ would write it with the recommended client setup — one keep-alive
// `node:http` Agent per process (Node 20's global fetch costs ~5× the CPU per request, see
// shared/reference/queue-figures.md).
import { Buffer } from "node:buffer";
import http from "node:http";
import { URL, URLSearchParams } from "node:url";

const env = process.env;
const SID = env.TWILIO_ACCOUNT_SID;
const AUTH = "Basic " + Buffer.from(`${SID}:${env.TWILIO_AUTH_TOKEN}`).toString("base64");
const base = new URL(env.TWILIO_BASE_URL);
const PATH = `/2010-04-01/Accounts/${SID}/Messages.json`;
const TIMEOUT_MS = Number(env.PEER_SEND_TIMEOUT_MS ?? 10_000);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(env.PEER_SOCKETS ?? 64) });

/** Thrown for an answer worth retrying (5xx, 429, timeout, connection error). */
export class TransientError extends Error {}
/** Thrown for a definite refusal (other 4xx): retrying cannot help. */
export class PermanentError extends Error {}

/** Sends one message; resolves with the provider's message sid. */
export function sendSms({ to, body }) {
  const form = new URLSearchParams({ To: to, From: env.TWILIO_FROM, Body: body }).toString();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        path: PATH,
        method: "POST",
        agent,
        timeout: TIMEOUT_MS,
        headers: {
          authorization: AUTH,
          "content-type": "application/x-www-form-urlencoded",
          "content-length": Buffer.byteLength(form),
        },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const code = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString();
          if (code >= 200 && code < 300) return resolve(JSON.parse(text).sid);
          const Err = code >= 500 || code === 429 ? TransientError : PermanentError;
          reject(new Err(`HTTP ${code}: ${text.slice(0, 200)}`));
        });
        res.on("error", (e) => reject(new TransientError(e.message)));
      },
    );
    req.on("timeout", () => req.destroy(new TransientError("timeout")));
    req.on("error", (e) => reject(e instanceof TransientError ? e : new TransientError(e.message)));
    req.end(form);
  });
}

/** One line of JSON on stdout for the orchestrator. */
export const report = (o) => process.stdout.write(JSON.stringify(o) + "\n");

/** Resolves when the orchestrator sends `word` over the IPC channel (child.send(word)). */
export function waitFor(word) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m !== word) return;
      process.off("message", on);
      resolve();
    };
    process.on("message", on);
  });
}
