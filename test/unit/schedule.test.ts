// The limiter's scheduler and AIMD, as pure functions: spacing per bucket at every level, pools
// (spread and sticky), in-flight caps, the horizon, and the adaptive rate's moves.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_AIMD, onAccepted, onLimited } from "../../src/limits/aimd.js";
import { buildPlan, twilioSenderDefault } from "../../src/limits/plan.js";
import {
  schedule,
  stickySender,
  type AccountLimits,
  type BucketState,
  type Candidate,
} from "../../src/limits/schedule.js";
import { maxInWindow } from "../helpers/rate.js";

const bucket = (key: string, rate: number | null, tat = 0): BucketState => ({
  key,
  rate,
  tat,
  cooldownUntil: null,
});

const account = (over: Partial<AccountLimits> = {}): AccountLimits => ({
  key: "account:a",
  pool: [],
  sticky: false,
  inFlight: 0,
  maxInFlight: null,
  senderKey: (from) => `sender:a:${from}`,
  ...over,
});

const msg = (i: number, over: Partial<Candidate> = {}): Candidate => ({
  id: `m${i}`,
  account: "a",
  segments: 1,
  from: "+14155550100",
  to: `+1415555${String(1000 + i)}`,
  ...over,
});

describe("schedule", () => {
  it("spaces one sender's messages by segments / rate and stops at the horizon", () => {
    const r = schedule({
      now: 1000,
      horizonMs: 250,
      buckets: new Map([
        ["sender:a:+14155550100", bucket("sender:a:+14155550100", 10)],
        ["account:a", bucket("account:a", null)],
      ]),
      accounts: new Map([["a", account()]]),
      globalKey: null,
      candidates: [msg(1), msg(2, { segments: 2 }), msg(3), msg(4)],
    });
    // 1 segment at 1000, 2 segments at 1100 (slot moves to 1300), the next would start at 1300.
    expect(r.admitted.map((a) => a.sendAt)).toEqual([1000, 1100]);
    expect(r.tats.get("sender:a:+14155550100")).toBe(1300);
    expect(r.nextAt).toBe(1300);
  });

  it("keeps every level's spacing when sender, account and global limits all bind", () => {
    const senders = ["+14155550100", "+14155550101", "+14155550102"];
    const buckets = new Map<string, BucketState>([
      ["global", bucket("global", 8)],
      ["account:a", bucket("account:a", 5)],
      ...senders.map((s): [string, BucketState] => [`sender:a:${s}`, bucket(`sender:a:${s}`, 2)]),
    ]);
    const candidates = Array.from({ length: 40 }, (_, i) =>
      msg(i, { from: senders[i % 2 === 0 ? 0 : 1 + (i % 3 === 0 ? 1 : 0)] as string }),
    );
    const r = schedule({
      now: 0,
      horizonMs: 5000,
      buckets,
      accounts: new Map([["a", account()]]),
      globalKey: "global",
      candidates,
    });
    const byFrom = new Map<string, number[]>();
    for (const a of r.admitted) {
      const c = candidates.find((x) => x.id === a.id) as Candidate;
      byFrom.set(c.from as string, [...(byFrom.get(c.from as string) ?? []), a.sendAt]);
    }
    const gaps = (ts: number[]) => ts.slice(1).map((t, i) => t - (ts[i] as number));
    for (const ts of byFrom.values()) {
      for (const g of gaps(ts)) expect(g).toBeGreaterThanOrEqual(500);
    }
    const all = r.admitted.map((a) => a.sendAt).sort((x, y) => x - y);
    for (const g of gaps(all)) expect(g).toBeGreaterThanOrEqual(200 - 1e-9); // account 5/s
    expect(r.admitted.length).toBeGreaterThan(10);
  });

  it("spreads a pool by each sender's free slot, or sticks a recipient to one sender", () => {
    const pool = [
      { from: "+14155550100", key: "sender:a:+14155550100", capacity: 1 },
      { from: "+14155550101", key: "sender:a:+14155550101", capacity: 1 },
      { from: "+14155550102", key: "sender:a:+14155550102", capacity: 1 },
    ];
    const buckets = new Map(pool.map((p): [string, BucketState] => [p.key, bucket(p.key, 1)]));
    const spread = schedule({
      now: 0,
      horizonMs: 100,
      buckets,
      accounts: new Map([["a", account({ key: null, pool })]]),
      globalKey: null,
      candidates: [0, 1, 2, 3].map((i) => msg(i, { from: null })),
    });
    // Three senders at 1/s: three go now, each through a different sender; the fourth waits.
    expect(spread.admitted.map((a) => a.from).sort()).toEqual(pool.map((p) => p.from));
    expect(spread.admitted.every((a) => a.sendAt === 0)).toBe(true);

    const sticky = schedule({
      now: 0,
      horizonMs: 10_000,
      buckets,
      accounts: new Map([["a", account({ key: null, pool, sticky: true })]]),
      globalKey: null,
      candidates: [
        msg(1, { from: null, to: "+14155551234" }),
        msg(2, { from: null, to: "+14155551234" }),
      ],
    });
    expect(sticky.admitted).toHaveLength(2);
    expect(sticky.admitted[0]?.from).toBe(sticky.admitted[1]?.from);
    expect(sticky.admitted[1]?.sendAt).toBe(1000);
  });

  it("weights sticky picks by capacity and moves few recipients when a sender is added", () => {
    const pool = [
      { from: "A", capacity: 1 },
      { from: "B", capacity: 3 },
    ];
    const tos = Array.from({ length: 4000 }, (_, i) => `+1415${2000000 + i}`);
    const counts = { A: 0, B: 0 };
    for (const to of tos) counts[stickySender(to, pool)?.from as "A" | "B"] += 1;
    expect(counts.B / tos.length).toBeGreaterThan(0.7);
    expect(counts.B / tos.length).toBeLessThan(0.8);
    const bigger = [...pool, { from: "C", capacity: 1 }];
    const moved = tos.filter((to) => {
      const now = stickySender(to, bigger)?.from;
      return now !== "C" && now !== stickySender(to, pool)?.from;
    });
    expect(moved).toHaveLength(0);
  });

  it("honours the in-flight cap and skips buckets another worker holds", () => {
    const r = schedule({
      now: 0,
      horizonMs: 1000,
      buckets: new Map([["account:a", bucket("account:a", null)]]),
      accounts: new Map([["a", account({ inFlight: 3, maxInFlight: 5, senderKey: () => null })]]),
      globalKey: null,
      candidates: [1, 2, 3, 4].map((i) => msg(i)),
    });
    expect(r.admitted.map((a) => a.id)).toEqual(["m1", "m2"]);
    const held = schedule({
      now: 0,
      horizonMs: 1000,
      buckets: new Map([["account:a", bucket("account:a", 10)]]),
      accounts: new Map([["a", account()]]),
      globalKey: null,
      candidates: [msg(1)],
    });
    // The sender's bucket is not in the map: another worker holds it this round.
    expect(held.admitted).toHaveLength(0);
  });

  it("never lets a rolling second carry more segments than the rate, over many rounds (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 1, max: 3 })), {
          minLength: 5,
          maxLength: 40,
        }),
        (rate, rounds) => {
          const key = "sender:a:+14155550100";
          let state: BucketState = { ...bucket(key, rate), window: { cap: rate, recent: [] } };
          const sends: number[] = [];
          const weights: number[] = [];
          let now = 0;
          let i = 0;
          for (const [gap, segments] of rounds) {
            now += gap;
            const candidates = Array.from({ length: 20 }, () => msg(i++, { segments }));
            const r = schedule({
              now,
              horizonMs: 250,
              buckets: new Map([[key, state]]),
              accounts: new Map([["a", account({ key: null })]]),
              globalKey: null,
              candidates,
            });
            for (const a of r.admitted) {
              sends.push(a.sendAt);
              weights.push(segments);
            }
            // As the store keeps it: the next free slot, and the log of the last second.
            const recent = (state.window?.recent ?? []).filter((e) => e.at > now - 1000);
            state = { ...state, tat: r.tats.get(key) ?? state.tat, window: { cap: rate, recent } };
          }
          expect(maxInWindow(sends, 1000, weights)).toBeLessThanOrEqual(Math.max(rate, 3));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("AIMD", () => {
  const base = { ceiling: 10, rate: 10, successes: 0, cooldownCount: 0, lastLimitedRate: null };

  it("cuts the rate by the factor, remembers it, and doubles the pause per signal", () => {
    const a = onLimited(base, null);
    expect(a.rate).toBeCloseTo(7);
    expect(a.lastLimitedRate).toBe(10);
    expect(a.cooldownMs).toBe(DEFAULT_AIMD.cooldownMs);
    // A refusal with no success since the last drop only doubles the pause.
    const b = onLimited({ ...base, rate: a.rate, cooldownCount: a.cooldownCount }, null);
    expect(b.cooldownMs).toBe(DEFAULT_AIMD.cooldownMs * 2);
    expect(b.rate).toBeCloseTo(7);
    expect(onLimited(base, 5000).cooldownMs).toBe(5000);
    expect(onLimited({ ...base, rate: 0.1 }, null).rate).toBeCloseTo(0.1);
  });

  it("drops to 95 % of what the provider's window accepted, and waits for the window", () => {
    const r = onLimited({ ...base, ceiling: 116, rate: 116 }, null, DEFAULT_AIMD, {
      perSecond: 1.67,
      freeInMs: 59_000,
    });
    expect(r.rate).toBeCloseTo(1.67 * 0.95);
    expect(r.lastLimitedRate).toBe(1.67);
    expect(r.cooldownMs).toBe(59_000);
  });

  it("climbs fast far below the refused rate, slowly near it, never past the ceiling", () => {
    const s = { ...base, rate: 2, lastLimitedRate: 8 };
    const far = onAccepted(s, 4);
    expect(far.rate).toBeCloseTo(2 + (8 * 0.95 - 2) / 2);
    expect(onAccepted(s, 3).rate).toBe(2); // not yet 2 s of sending at 2/s
    const near = onAccepted({ ...s, rate: 7.5 }, 20);
    expect(near.rate).toBeCloseTo(7.66);
    expect(onAccepted({ ...base, rate: 9.9 }, 100).rate).toBe(10);
  });
});

describe("plan", () => {
  it("defaults Twilio senders by type", () => {
    expect(twilioSenderDefault("+14155550100")).toBe(1);
    expect(twilioSenderDefault("+18005550100")).toBe(3);
    expect(twilioSenderDefault("55555")).toBe(100);
  });

  it("leaves unlimited accounts out and keys buckets by level", () => {
    const plan = buildPlan(
      [
        {
          name: "t",
          ceiling: null,
          maxInFlight: null,
          senders: [{ from: "+14155550100", ceiling: 1 }],
          senderRate: () => 1,
          sticky: false,
        },
        {
          name: "free",
          ceiling: null,
          maxInFlight: null,
          senders: [],
          senderRate: () => null,
          sticky: false,
        },
      ],
      null,
    );
    expect(plan.specs.map((s) => s.key)).toEqual(["sender:t:+14155550100"]);
    expect([...plan.accounts.keys()]).toEqual(["t"]);
    expect(plan.accounts.get("t")?.senderKey("+14155559999")).toBe("sender:t:+14155559999");
  });
});
