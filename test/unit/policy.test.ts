import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { fullJitter } from "../../src/policy/backoff.js";
import { decideRetry, type RetrySettings } from "../../src/policy/retry.js";

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

describe("decideRetry", () => {
  const s: RetrySettings = { baseMs: 1000, capMs: 60_000, maxAttempts: 5 };
  const now = new Date("2026-01-15T12:00:00Z");
  const at = (ms: number) => new Date(now.getTime() + ms);

  it("fails a non-retryable error at once", () => {
    expect(decideRetry({ retryable: false }, 1, null, now, s, always(0.5))).toEqual({
      action: "fail",
    });
    expect(
      decideRetry({ retryable: false, retryAfterMs: 10 }, 1, at(3_600_000), now, s, always(0.5)),
    ).toEqual({ action: "fail" });
  });

  it("fails once the attempt budget is spent", () => {
    expect(decideRetry({ retryable: true }, 5, null, now, s, always(0.5))).toEqual({
      action: "fail",
    });
    expect(decideRetry({ retryable: true }, 6, null, now, s, always(0.5))).toEqual({
      action: "fail",
    });
    expect(decideRetry({ retryable: true }, 4, null, now, s, always(0.5)).action).toBe("retry");
    expect(
      decideRetry({ retryable: true }, 1, null, now, { ...s, maxAttempts: 1 }, always(0.5)),
    ).toEqual({ action: "fail" });
  });

  it("retries after attempts 1..4 with the exact jittered delays", () => {
    const random = sequence([0.5, 0.5, 0.25, 0.875]);
    // Ceilings 1000, 2000, 4000, 8000 → 500, 1000, 1000, 7000.
    const delays = [1, 2, 3, 4].map((attempt) => {
      const d = decideRetry({ retryable: true }, attempt, null, now, s, random);
      if (d.action !== "retry") throw new Error(`expected retry, got ${d.action}`);
      return d.runAt.getTime() - now.getTime();
    });
    expect(delays).toEqual([500, 1000, 1000, 7000]);
  });

  it("honours retryAfterMs as a minimum", () => {
    // Jitter would be 500 (attempt 1, ceiling 1000); Retry-After asks for 30 s.
    expect(
      decideRetry({ retryable: true, retryAfterMs: 30_000 }, 1, null, now, s, always(0.5)),
    ).toEqual({ action: "retry", runAt: at(30_000) });
    // Jitter 2000 (attempt 3, ceiling 4000) is longer than Retry-After 10 ms.
    expect(
      decideRetry({ retryable: true, retryAfterMs: 10 }, 3, null, now, s, always(0.5)),
    ).toEqual({ action: "retry", runAt: at(2000) });
    // Retry-After beyond the cap still wins.
    expect(
      decideRetry({ retryable: true, retryAfterMs: 120_000 }, 1, null, now, s, always(0)),
    ).toEqual({ action: "retry", runAt: at(120_000) });
  });

  it("expires when the retry would be at or past validUntil", () => {
    // Attempt 2 with random 0.5: delay 1000.
    expect(decideRetry({ retryable: true }, 2, at(999), now, s, always(0.5))).toEqual({
      action: "expire",
    });
    expect(decideRetry({ retryable: true }, 2, at(1000), now, s, always(0.5))).toEqual({
      action: "expire",
    });
    expect(decideRetry({ retryable: true }, 2, at(1001), now, s, always(0.5))).toEqual({
      action: "retry",
      runAt: at(1000),
    });
    expect(
      decideRetry({ retryable: true, retryAfterMs: 60_000 }, 1, at(59_999), now, s, always(0)),
    ).toEqual({ action: "expire" });
  });

  it("prefers fail over expire when the budget is spent", () => {
    expect(decideRetry({ retryable: true }, 5, at(-1), now, s, always(0))).toEqual({
      action: "fail",
    });
  });
});
