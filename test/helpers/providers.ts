/**
 * Scripted providers for dispatcher tests: they implement the provider interface in process
 * and answer as told. (Tests of real adapters go through the provider simulator instead.)
 */
import { randomBytes } from "node:crypto";
import type {
  OutboundMessage,
  Provider,
  ReceiptSink,
  SendResult,
} from "../../src/providers/types.js";

export interface ScriptedProvider extends Provider {
  calls: OutboundMessage[];
}

/** A provider that answers each call with `answer(msg, callIndex)`, reporting receipts to `sink`. */
export function scripted(
  answer: (msg: OutboundMessage, n: number) => SendResult | Promise<SendResult>,
  sink?: ReceiptSink,
): ScriptedProvider {
  const calls: OutboundMessage[] = [];
  // Named "twilio" so that failures are classified with Twilio's code table.
  return {
    name: "twilio",
    account: "test",
    calls,
    async send(msg) {
      calls.push(msg);
      const res = await answer(msg, calls.length);
      if (res.ok && sink) {
        sink.push({
          provider: "twilio",
          providerMessageId: res.providerMessageId,
          status: "delivered",
          providerStatus: "delivered",
          dedupeKey: `twilio:${res.providerMessageId}:delivered`,
        });
      }
      return res;
    },
  };
}

export const ok = (): SendResult => ({
  ok: true,
  providerMessageId: "T" + randomBytes(8).toString("hex"),
  providerStatus: "queued",
  httpStatus: 201,
});

export const failure = (retryable: boolean, code = "30008"): SendResult => ({
  ok: false,
  httpStatus: retryable ? 503 : 400,
  code,
  message: retryable ? "try later" : "invalid number",
  ambiguous: false,
  retryable,
});

/** A promise with its resolve function outside. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Backoff so short that retries come due at once (the delay maths has its own unit tests). */
export const TINY_BACKOFF = {
  transient: { baseMs: 1, capMs: 2 },
  ambiguous: { baseMs: 1, capMs: 2 },
  rate_limited: { baseMs: 1, capMs: 2 },
  account: { baseMs: 1, capMs: 2 },
};

/** Short but real backoff for the end-to-end policy tests (5–20 ms for every class). */
export const FAST_BACKOFF = {
  transient: { baseMs: 5, capMs: 20 },
  ambiguous: { baseMs: 5, capMs: 20 },
  rate_limited: { baseMs: 5, capMs: 20 },
  account: { baseMs: 5, capMs: 20 },
};
