import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  STATUSES,
  TERMINAL_STATUSES,
  canTransition,
  fromStates,
  isStatus,
  isTerminal,
  requeueableStates,
  type MessageStatus,
} from "../../src/messages/lifecycle.js";

// The lifecycle order, written out here independently of the module's table.
const TERMINAL = ["delivered", "undelivered", "failed", "expired", "canceled", "suppressed"];
const RANK: Record<string, number> = { scheduled: 0, queued: 1, sending: 2, sent: 3 };
const rank = (s: MessageStatus) => (TERMINAL.includes(s) ? 4 : (RANK[s] as number));

describe("lifecycle table", () => {
  it("knows exactly the ten documented statuses", () => {
    expect([...STATUSES].sort()).toEqual(
      [...TERMINAL, "scheduled", "queued", "sending", "sent"].sort(),
    );
    expect([...TERMINAL_STATUSES].sort()).toEqual([...TERMINAL].sort());
  });

  it("terminal statuses have no successors", () => {
    for (const from of STATUSES.filter((s) => TERMINAL.includes(s))) {
      expect(isTerminal(from)).toBe(true);
      for (const to of STATUSES) expect(canTransition(from, to), `${from}→${to}`).toBe(false);
    }
  });

  it("non-terminal statuses are not terminal and each has a way forward", () => {
    for (const s of ["scheduled", "queued", "sending", "sent"] as const) {
      expect(isTerminal(s)).toBe(false);
      expect(STATUSES.some((to) => canTransition(s, to))).toBe(true);
    }
  });

  it("no transition leads back to scheduled", () => {
    for (const from of STATUSES) expect(canTransition(from, "scheduled")).toBe(false);
    expect(fromStates("scheduled")).toEqual([]);
  });

  it("no status transitions to itself", () => {
    for (const s of STATUSES) expect(canTransition(s, s), s).toBe(false);
  });

  it("fromStates() agrees with canTransition for every pair", () => {
    for (const to of STATUSES) {
      const froms = fromStates(to);
      for (const from of STATUSES) {
        expect(froms.includes(from), `${from}→${to}`).toBe(canTransition(from, to));
      }
      expect(new Set(froms).size).toBe(froms.length);
    }
  });

  it("a late sent cannot move delivered (or any other terminal status)", () => {
    expect(canTransition("delivered", "sent")).toBe(false);
    expect(fromStates("sent")).not.toContain("delivered");
    expect(fromStates("sent")).toEqual(["sending"]);
  });

  it("the documented edges exist", () => {
    expect(canTransition("scheduled", "queued")).toBe(true);
    expect(canTransition("queued", "sending")).toBe(true);
    expect(canTransition("sending", "sent")).toBe(true);
    expect(canTransition("sending", "queued")).toBe(true); // retry
    expect(canTransition("sent", "delivered")).toBe(true);
    expect(canTransition("sent", "undelivered")).toBe(true);
    expect(canTransition("scheduled", "canceled")).toBe(true);
    // Once handed to a provider a message cannot be canceled.
    expect(canTransition("sending", "canceled")).toBe(false);
    expect(canTransition("sent", "canceled")).toBe(false);
    expect(canTransition("sent", "queued")).toBe(false);
  });

  it("every edge is monotone except sending → queued", () => {
    for (const from of STATUSES) {
      for (const to of STATUSES) {
        if (!canTransition(from, to)) continue;
        if (from === "sending" && to === "queued") continue;
        expect(rank(to), `${from}→${to}`).toBeGreaterThan(rank(from));
      }
    }
  });

  it("requeueable states are terminal dead letters and a fresh copy each call", () => {
    const r = requeueableStates();
    expect([...r].sort()).toEqual(["expired", "failed", "undelivered"]);
    for (const s of r) expect(isTerminal(s)).toBe(true);
    r.push("delivered");
    expect(requeueableStates()).not.toContain("delivered");
  });

  it("isStatus recognises statuses only", () => {
    for (const s of STATUSES) expect(isStatus(s)).toBe(true);
    for (const s of ["", "Queued", "pending", "sent ", "__proto__"]) {
      expect(isStatus(s)).toBe(false);
    }
  });
});

describe("lifecycle property", () => {
  it("random event sequences never leave a terminal status and only move forward", () => {
    const status = fc.constantFrom(...STATUSES);
    fc.assert(
      fc.property(fc.array(status, { maxLength: 40 }), (targets) => {
        let cur: MessageStatus = "scheduled";
        let terminalAt: MessageStatus | null = null;
        for (const to of targets) {
          if (!canTransition(cur, to)) continue;
          // A terminal message must never accept a move.
          expect(terminalAt).toBeNull();
          const prev = cur;
          cur = to;
          if (prev === "sending" && to === "queued") {
            expect(rank(cur)).toBe(1);
          } else {
            expect(rank(cur)).toBeGreaterThan(rank(prev));
          }
          if (TERMINAL.includes(cur)) terminalAt = cur;
        }
        if (terminalAt !== null) expect(cur).toBe(terminalAt);
      }),
      { numRuns: 400 },
    );
  });
});
