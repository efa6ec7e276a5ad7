// One step of the dispatcher (attempt): what the outcome says about a message whose last call
// may have reached the provider.
import { describe, expect, it } from "vitest";
import { attempt } from "../../src/dispatch/attempt.js";
import { DEFAULT_BACKOFF } from "../../src/policy/decide.js";
import type { Provider, SendResult } from "../../src/providers/types.js";
import type { ClaimedMessage } from "../../src/store/dispatch.js";

const now = new Date("2026-12-05T12:00:00Z");

function message(over: Partial<ClaimedMessage> = {}): ClaimedMessage {
  return {
    id: "msg_1",
    to_number: "+14155550100",
    from_number: null,
    sender: null,
    body: "hello",
    segments: 1,
    attempts: 3,
    budget_base: 0,
    free_attempts: 0,
    in_doubt: false,
    valid_until: null,
    created_at: now,
    suppressed: false,
    ...over,
  } as ClaimedMessage;
}

// A provider that answers every send the same way (the edge: no real provider here).
const answering = (r: SendResult): Provider =>
  ({ name: "twilio", account: "main", send: () => Promise.resolve(r) }) as unknown as Provider;

const timeout: SendResult = {
  ok: false,
  httpStatus: null,
  code: "timeout",
  message: "timed out (after sending; outcome unknown)",
  ambiguous: true,
  retryable: true,
};

const settings = (maxAttempts: number) => ({
  policy: { maxAttempts, backoff: DEFAULT_BACKOFF },
  inDoubt: "resend" as const,
  sendTimeoutMs: 1000,
});

describe("attempt", () => {
  it("a message failed after an ambiguous last call is marked in doubt", async () => {
    const r = await attempt(message(), answering(timeout), settings(3), () => now, Math.random);
    expect(r.outcome.status).toBe("failed");
    expect(r.outcome.inDoubt).toBe(true);
  });

  it("a message failed after a clear refusal leaves in doubt as it was", async () => {
    const refused: SendResult = { ...timeout, httpStatus: 400, code: "21211", ambiguous: false };
    const r = await attempt(message(), answering(refused), settings(3), () => now, Math.random);
    expect(r.outcome.status).toBe("failed");
    expect(r.outcome.inDoubt).toBeUndefined();
  });

  it("an ambiguous call with budget left is retried in doubt", async () => {
    const r = await attempt(message(), answering(timeout), settings(5), () => now, Math.random);
    expect(r.outcome).toMatchObject({ status: "queued", inDoubt: true });
  });
});
