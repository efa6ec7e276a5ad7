// The shared token buckets in the store, on PGlite and PostgreSQL: the claim takes slots and
// messages in one transaction, keeps a learned rate across restarts, never hands one slot to
// two workers, and applies AIMD signals once per episode.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildPlan, type LimitPlan } from "../../src/limits/plan.js";
import { applyLimitSignals } from "../../src/store/limit-signals.js";
import {
  claimLimited,
  readBuckets,
  syncBuckets,
  type LimitedClaimOptions,
} from "../../src/store/limits.js";
import { ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import { seed } from "../helpers/seed.js";

const FROM = "+14155550100";
const KEY = `sender:main:${FROM}`;

function plan(rate: number, extra: { accountMps?: number; maxInFlight?: number } = {}): LimitPlan {
  return buildPlan(
    [
      {
        name: "main",
        ceiling: extra.accountMps ?? null,
        maxInFlight: extra.maxInFlight ?? null,
        senders: [{ from: FROM, ceiling: rate }],
        senderRate: () => rate,
        sticky: false,
      },
    ],
    null,
  );
}

function opts(p: LimitPlan, workerId = "w1", limit = 50): LimitedClaimOptions {
  return {
    workerId,
    limit,
    leaseMs: 60_000,
    accounts: [{ account: "main", provider: "sandbox", position: 0 }],
    horizonMs: 250,
    headroom: 0,
    globalKey: p.globalKey,
    plan: p.accounts,
    accepted: new Map(),
  };
}

describe.each(ENGINES)("rate limits in the store on %s", (engine) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore(engine);
  });
  afterAll(async () => store?.close());
  beforeEach(async () => store.reset());

  it("takes only the slots within the horizon, and says when the next one opens", async () => {
    const p = plan(4);
    await syncBuckets(store.db, p.specs);
    await seed(store.db, 20);
    const first = await claimLimited(store.db, opts(p));
    // 4/s: slots at +0 and +250 ms fall within the 250 ms horizon; the third opens at +500.
    expect(first.messages).toHaveLength(2);
    expect(first.messages.every((m) => m.status === "sending" && m.sender === FROM)).toBe(true);
    const at = first.messages.map((m) => m.sendAt);
    expect((at[1] as number) - (at[0] as number)).toBeCloseTo(250, 6);
    const o = opts(p);
    const again = await claimLimited(store.db, o);
    expect(again.messages).toHaveLength(0);
    expect(again.nextAtLocal).not.toBeNull();
    // On the local clock, within the round trip's uncertainty.
    expect(
      Math.abs((again.nextAtLocal as number) - (first.messages[0]?.sendAtLocal as number) - 500),
    ).toBeLessThan(25);
    const [b] = await readBuckets(store.db);
    expect(b?.key).toBe(KEY);
    const n = await store.db.query<{ n: number }>(
      "select count(*)::int as n from smsq.messages where status = 'queued'",
    );
    expect(n[0]?.n).toBe(18);
  });

  it("keeps a learned rate across a restart's sync, and caps it by a lowered ceiling", async () => {
    await syncBuckets(store.db, plan(10).specs);
    await applyLimitSignals(store.db, [{ key: KEY, startedAt: new Date(), retryAfterMs: 0 }]);
    let [b] = await readBuckets(store.db);
    expect(b?.rate).toBeCloseTo(7);
    await syncBuckets(store.db, plan(10).specs);
    [b] = await readBuckets(store.db);
    expect(b?.rate).toBeCloseTo(7);
    await syncBuckets(store.db, plan(5).specs);
    [b] = await readBuckets(store.db);
    expect(b?.rate).toBeCloseTo(5);
    expect(b?.ceiling).toBe(5);
  });

  it("lowers the rate once per episode, pauses the bucket, and credits successes", async () => {
    const p = plan(10);
    await syncBuckets(store.db, p.specs);
    const before = new Date(Date.now() - 1000);
    const moved = await applyLimitSignals(store.db, [
      { key: KEY, startedAt: new Date(), retryAfterMs: 2000 },
    ]);
    expect(moved).toEqual([KEY]);
    // A refusal of a call that started before the decrease belongs to the same episode.
    expect(
      await applyLimitSignals(store.db, [{ key: KEY, startedAt: before, retryAfterMs: null }]),
    ).toEqual([]);
    let [b] = await readBuckets(store.db);
    expect(b?.rate).toBeCloseTo(7);
    expect(b?.limited_total).toBe(2);
    expect((b?.cooldown_until?.getTime() ?? 0) - Date.now()).toBeGreaterThan(1000);
    await seed(store.db, 5);
    const paused = await claimLimited(store.db, opts(p));
    expect(paused.messages).toHaveLength(0);
    expect((paused.nextAtLocal as number) - Date.now()).toBeGreaterThan(1000);
    // Successes are credited the next time a worker holds the bucket.
    const o = opts(p);
    o.accepted.set(KEY, 100);
    await claimLimited(store.db, o);
    [b] = await readBuckets(store.db);
    expect(b?.rate).toBeGreaterThan(7);
    expect(b?.accepted_total).toBe(100);
    expect(o.accepted.size).toBe(0);
  });

  it("caps provider calls in flight across workers", async () => {
    const p = plan(1000, { maxInFlight: 4 });
    await syncBuckets(store.db, p.specs);
    await seed(store.db, 10);
    const a = await claimLimited(store.db, opts(p, "w1"));
    const b = await claimLimited(store.db, opts(p, "w2"));
    expect(a.messages.length + b.messages.length).toBe(4);
  });

  it.runIf(engine === "postgres")(
    "never gives one slot to two workers claiming at once",
    async () => {
      const p = plan(20);
      await syncBuckets(store.db, p.specs);
      await seed(store.db, 200);
      const sends: number[] = [];
      const t0 = Date.now();
      while (Date.now() - t0 < 1500) {
        const rounds = await Promise.all(
          ["w1", "w2", "w3", "w4"].map((w) => claimLimited(store.db, opts(p, w))),
        );
        for (const r of rounds) sends.push(...r.messages.map((m) => m.sendAt));
        await new Promise((r) => setTimeout(r, 20));
      }
      sends.sort((x, y) => x - y);
      for (let i = 1; i < sends.length; i++) {
        expect((sends[i] as number) - (sends[i - 1] as number)).toBeGreaterThanOrEqual(50 - 1e-6);
      }
      expect(sends.length).toBeGreaterThanOrEqual(25);
    },
  );
});
