import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { fullJitter } from "../../src/policy/backoff.js";
import {
  decide,
  spendsBudget,
  type FailureInput,
  type PolicySettings,
} from "../../src/policy/decide.js";

const JUST_UNDER_ONE = 1 - 2 ** -53; // the largest double below 1
const always = (x: number) => () => x;
/** A random source that returns the given values in turn. */
function sequence(values: number[]): () => number {
  let i = 0;
  return () => {
    const v = values[i++];
    if (v === undefined) throw new Error("random called too often");
    return v;
  };
}

describe("fullJitter", () => {
  const o = { baseMs: 100, capMs: 1000 };

  it("is 0 when random gives 0", () => {
    for (let n = 1; n <= 10; n++) expect(fullJitter(n, o, always(0))).toBe(0);
  });

  it("is just under the ceiling when random is just under 1; the ceiling doubles then caps", () => {
    // Ceilings: 100, 200, 400, 800, then min(1000, 1600) = 1000 onwards.
    const expected = [99, 199, 399, 799, 999, 999, 999];
    expect([1, 2, 3, 4, 5, 6, 50].map((n) => fullJitter(n, o, always(JUST_UNDER_ONE)))).toEqual(
      expected,
    );
  });

  it("scales the ceiling by random", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => fullJitter(n, o, always(0.5)))).toEqual([
      50, 100, 200, 400, 500, 500,
    ]);
    const seq = sequence([0.25, 0.5, 0.75, 0.1, 0.9]);
    // floor(r × ceiling) with ceilings 100, 200, 400, 800, 1000.
    expect([1, 2, 3, 4, 5].map((n) => fullJitter(n, o, seq))).toEqual([25, 100, 300, 80, 900]);
  });

  it("treats n below 1 as the first retry and survives huge n", () => {
    expect(fullJitter(0, o, always(JUST_UNDER_ONE))).toBe(99);
    expect(fullJitter(-3, o, always(JUST_UNDER_ONE))).toBe(99);
    expect(fullJitter(5000, o, always(JUST_UNDER_ONE))).toBe(999);
  });

  it("stays an integer in [0, min(cap, base·2^(n-1))) for any random in [0, 1)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 3_600_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (n, baseMs, capMs, r) => {
          const d = fullJitter(n, { baseMs, capMs }, always(r));
          let ceiling = baseMs;
          for (let i = 1; i < n && ceiling < capMs; i++) ceiling *= 2;
          ceiling = Math.min(ceiling, capMs);
          expect(Number.isInteger(d)).toBe(true);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThan(ceiling);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("uses Math.random by default", () => {
    for (let i = 0; i < 50; i++) {
      const d = fullJitter(3, o);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(400);
    }
  });
});

describe("decide (delivery policy)", () => {
  const b = { baseMs: 1000, capMs: 60_000 };
  const s: PolicySettings = {
    maxAttempts: 5,
    settleMs: 0,
    backoff: {
      transient: b,
      ambiguous: { baseMs: 2000, capMs: 60_000 },
      rate_limited: b,
      account: b,
    },
  };
  const now = new Date("2026-01-15T12:00:00Z");
  const at = (ms: number) => new Date(now.getTime() + ms);
  const input = (over: Partial<FailureInput>): FailureInput => ({
    class: "transient",
    optOut: false,
    spent: 1,
    streak: 1,
    validUntil: null,
    now,
    ...over,
  });

  it("fails permanent classes at once, and suppresses an opt-out", () => {
    expect(decide(input({ class: "recipient_permanent" }), s, always(0.5))).toEqual({
      action: "fail",
      reason: null,
    });
    expect(decide(input({ class: "content_permanent", spent: 0 }), s, always(0.5))).toEqual({
      action: "fail",
      reason: null,
    });
    expect(decide(input({ class: "recipient_permanent", optOut: true }), s, always(0.5))).toEqual({
      action: "suppress",
    });
  });

  it("retries transient failures with the exact jittered delays until the budget is spent", () => {
    const random = sequence([0.5, 0.5, 0.25, 0.875]);
    // Ceilings 1000, 2000, 4000, 8000 → 500, 1000, 1000, 7000.
    const delays = [1, 2, 3, 4].map((n) => {
      const d = decide(input({ spent: n, streak: n }), s, random);
      if (d.action !== "retry") throw new Error(d.action);
      expect(d).toMatchObject({ free: false, inDoubt: false });
      return d.runAt.getTime() - now.getTime();
    });
    expect(delays).toEqual([500, 1000, 1000, 7000]);
    expect(decide(input({ spent: 5, streak: 5 }), s, always(0.5))).toEqual({
      action: "fail",
      reason: null,
    });
  });

  it("does not spend the budget on rate limits or account failures, whatever was spent", () => {
    for (const c of ["rate_limited", "account"] as const) {
      expect(spendsBudget(c)).toBe(false);
      const d = decide(input({ class: c, spent: 99, streak: 2 }), s, always(0.5));
      expect(d).toEqual({ action: "retry", runAt: at(1000), free: true, inDoubt: false });
    }
    for (const c of [
      "transient",
      "ambiguous",
      "recipient_permanent",
      "content_permanent",
    ] as const) {
      expect(spendsBudget(c)).toBe(true);
    }
  });

  it("honours Retry-After as a minimum", () => {
    const d = decide(input({ class: "rate_limited", retryAfterMs: 30_000 }), s, always(0.5));
    expect(d).toMatchObject({ action: "retry", runAt: at(30_000) });
  });

  it("marks an ambiguous retry in doubt, and fails it as in_doubt when its time runs out", () => {
    expect(decide(input({ class: "ambiguous" }), s, always(0.5))).toEqual({
      action: "retry",
      runAt: at(1000),
      free: false,
      inDoubt: true,
    });
    expect(decide(input({ class: "ambiguous", validUntil: at(500) }), s, always(0.5))).toEqual({
      action: "fail",
      reason: "in_doubt",
    });
  });

  it("expires a transient or rate-limited message rather than retry past its validity", () => {
    expect(decide(input({ validUntil: at(500) }), s, always(0.5))).toEqual({ action: "expire" });
    expect(decide(input({ class: "rate_limited", validUntil: at(500) }), s, always(0.5))).toEqual({
      action: "expire",
    });
    expect(decide(input({ validUntil: at(501) }), s, always(0.5)).action).toBe("retry");
  });

  it("waits at least the settle time before asking about an ambiguous attempt", () => {
    const d = decide(input({ class: "ambiguous" }), { ...s, settleMs: 10_000 }, always(0.5));
    expect(d).toMatchObject({ action: "retry", runAt: at(10_000), inDoubt: true });
    // Transient retries are not held back by it.
    expect(decide(input({}), { ...s, settleMs: 10_000 }, always(0.5))).toMatchObject({
      runAt: at(500),
    });
  });
});
