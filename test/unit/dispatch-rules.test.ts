// Two small rules of the dispatcher, on their own: how big a limited worker's claims may be
// while its sends leave late, and when a failing message moves to the next account of its route.
import { describe, expect, it } from "vitest";
import type { AttemptResult } from "../../src/dispatch/attempt.js";
import { advance } from "../../src/dispatch/failover.js";
import { Limiter } from "../../src/dispatch/limiter.js";
import type { Db } from "../../src/store/db.js";
import { silentLog } from "../helpers/log.js";

// claimCap and sentOnTime never touch the store.
const noStore = {} as Db;
const limiter = () =>
  new Limiter(noStore, { plan: { specs: [], accounts: new Map(), globalKey: null } }, silentLog);

describe("the claim-size cap", () => {
  it("halves while more than a tenth of a batch leaves late, never below 5", () => {
    const l = limiter();
    expect(l.claimCap(500)).toBe(500);
    l.sentOnTime(500, 50); // exactly a tenth: fine
    expect(l.claimCap(500)).toBe(500);
    l.sentOnTime(500, 51);
    expect(l.claimCap(500)).toBe(250);
    l.sentOnTime(250, 100);
    expect(l.claimCap(500)).toBe(125);
    for (let i = 0; i < 10; i++) l.sentOnTime(l.claimCap(500), 100);
    expect(l.claimCap(500)).toBe(5);
    // The room left in this process still bounds it.
    expect(l.claimCap(3)).toBe(3);
  });

  it("grows back by a tenth per full batch on time, and lifts above 1,000", () => {
    const l = limiter();
    l.sentOnTime(40, 40);
    expect(l.claimCap(2000)).toBe(20);
    l.sentOnTime(10, 0); // a short batch says nothing about a bigger one
    expect(l.claimCap(2000)).toBe(20);
    l.sentOnTime(20, 0);
    expect(l.claimCap(2000)).toBe(23);
    let rounds = 0;
    while (l.claimCap(2000) < 2000 && rounds < 100) {
      l.sentOnTime(l.claimCap(2000), 0);
      rounds += 1;
    }
    expect(l.claimCap(2000)).toBe(2000);
    expect(rounds).toBeGreaterThan(20);
    expect(rounds).toBeLessThan(40);
  });
});

describe("failover by patience", () => {
  const queued = (errorClass: AttemptResult["errorClass"]): AttemptResult => ({
    outcome: { messageId: "m", status: "queued", runAt: new Date(0) },
    effects: { healthy: false },
    errorClass,
  });
  const route = ["main", "backup", "dialpad"];

  it("moves on after `patience` transient failures on one account, counting until then", () => {
    const first = queued("transient");
    advance(route, { account: "main", step_failures: 0 }, first, 2);
    expect(first.outcome).toMatchObject({ stepFailures: 1 });
    expect(first.outcome.routeStep).toBeUndefined();
    const second = queued("rate_limited");
    advance(route, { account: "main", step_failures: 1 }, second, 2);
    expect(second.outcome).toMatchObject({ routeStep: 1, stepFailures: 0 });
  });

  it("moves on at once after an account failure; stays on the last account", () => {
    const r = queued("account");
    advance(route, { account: "backup", step_failures: 0 }, r, 5);
    expect(r.outcome).toMatchObject({ routeStep: 2, stepFailures: 0 });
    const last = queued("account");
    advance(route, { account: "dialpad", step_failures: 3 }, last, 2);
    expect(last.outcome).toMatchObject({ stepFailures: 4 });
    expect(last.outcome.routeStep).toBeUndefined();
  });

  it("leaves a single-account route, other classes and final outcomes alone", () => {
    for (const [accounts, r] of [
      [["main"], queued("transient")],
      [route, queued("recipient_permanent")],
      [route, { ...queued("transient"), outcome: { messageId: "m", status: "failed" } }],
    ] as [string[], AttemptResult][]) {
      advance(accounts, { account: "main", step_failures: 5 }, r, 2);
      expect(r.outcome.routeStep).toBeUndefined();
      expect(r.outcome.stepFailures).toBeUndefined();
    }
  });
});
