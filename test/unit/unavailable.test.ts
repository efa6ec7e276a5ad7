// Which store errors mean "unreachable, retry later" (503, dispatch pauses) and which are faults.
import { describe, expect, it } from "vitest";
import { isUnavailableError } from "../../src/store/db.js";

describe("isUnavailableError", () => {
  it.each([
    [{ code: "ECONNREFUSED", message: "connect ECONNREFUSED 127.0.0.1:5432" }],
    [{ code: "57P01", message: "terminating connection due to administrator command" }],
    [new Error("Connection terminated unexpectedly")],
    // pg-pool, when every connection is busy for connectionTimeoutMillis: overload, not a fault.
    [new Error("timeout exceeded when trying to connect")],
  ])("%o is unavailable", (e) => {
    expect(isUnavailableError(e)).toBe(true);
  });

  it.each([
    [{ code: "23505", message: "duplicate key value violates unique constraint" }],
    [new Error('syntax error at or near "selec"')],
    [null],
  ])("%o is not", (e) => {
    expect(isUnavailableError(e)).toBe(false);
  });
});
