/**
 * The built-in `sandbox` provider: accepts every message and reports it delivered, so smsq runs
 * end to end with no credentials. It makes no network call. With `logFile` set it appends one
 * JSON line per send (an independent record for exactly-once checks across processes).
 */
import { appendFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import type { OutboundMessage, Provider, ReceiptSink, SendResult } from "./types.js";

export interface SandboxOptions {
  account?: string;
  /** Where to report the `delivered` receipt; without one, messages stay `sent`. */
  sink?: ReceiptSink;
  logFile?: string | null;
}

/** Creates the sandbox provider. */
export function createSandbox(opts: SandboxOptions = {}): Provider {
  const account = opts.account ?? "sandbox";
  return {
    name: "sandbox",
    account,
    async send(msg: OutboundMessage): Promise<SendResult> {
      const providerMessageId = "SB" + randomBytes(16).toString("hex");
      if (opts.logFile) {
        // One short line per append: O_APPEND writes under PIPE_BUF never interleave.
        appendFileSync(
          opts.logFile,
          JSON.stringify({ id: msg.id, sid: providerMessageId, pid: process.pid }) + "\n",
        );
      }
      opts.sink?.push({
        provider: "sandbox",
        providerMessageId,
        status: "delivered",
        providerStatus: "delivered",
        dedupeKey: `sandbox:${providerMessageId}:delivered`,
      });
      return { ok: true, providerMessageId, providerStatus: "accepted", httpStatus: null };
    },
  };
}
