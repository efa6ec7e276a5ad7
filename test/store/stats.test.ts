// GET /v1/stats's numbers on a small hand-made history with a fixed clock: every count below
// is worked out by hand from the rows seeded, on PGlite and on PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newMessageId } from "../../src/messages/ids.js";
import type { Db } from "../../src/store/db.js";
import { getStats, statsWindow } from "../../src/store/stats.js";
import { ENGINES, openTestStore, type TestStore } from "../helpers/db.js";

// 12:00:30 with a 60-minute window: buckets of 60 s from 11:01:00, the last one partial.
const T = Date.parse("2026-11-23T12:00:30.000Z");
const MIN = 60_000;
const at = (msAgo: number) => new Date(T - msAgo).toISOString();

interface Msg {
  status: string;
  lane: number;
  createdAgo: number;
  completedAgo?: number;
  runAgo?: number;
  attempts?: number;
  error?: [code: string, cls: string | null];
}

interface Att {
  n: number;
  agoMs: number;
  outcome: "accepted" | "failed" | "abandoned" | "reconciled";
  account?: string;
  error?: [code: string, cls: string];
  latency?: number | null;
}

async function insert(db: Db, m: Msg, attempts: Att[] = []): Promise<string> {
  const id = newMessageId(T - m.createdAgo);
  await db.query(
    `insert into smsq.messages (id, api_key_id, to_number, body, segments, encoding, priority,
       lane, status, run_at, attempts, last_error_code, last_error_class, created_at, updated_at,
       completed_at)
     values ($1, 'k', '+14155550100', 'hi', 1, 'GSM-7', $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)`,
    [
      id,
      ["high", "normal", "low"][m.lane],
      m.lane,
      m.status,
      at(m.runAgo ?? m.createdAgo),
      m.attempts ?? attempts.length,
      m.error?.[0] ?? null,
      m.error?.[1] ?? null,
      at(m.createdAgo),
      m.completedAgo === undefined ? null : at(m.completedAgo),
    ],
  );
  for (const a of attempts) {
    await db.query(
      `insert into smsq.attempts (message_id, attempt, provider, account, outcome, error_code,
         error_class, started_at, finished_at, latency_ms)
       values ($1, $2, 'twilio', $3, $4, $5, $6, $7, $7, $8)`,
      [
        id,
        a.n,
        a.account ?? "primary",
        a.outcome,
        a.error?.[0] ?? null,
        a.error?.[1] ?? null,
        at(a.agoMs),
        a.latency === undefined ? 100 : a.latency,
      ],
    );
  }
  return id;
}

const T20500: [string, string] = ["20500", "transient"];

async function seedHistory(db: Db): Promise<void> {
  const since = T - statsWindow(60, new Date(T)).since.getTime(); // 59.5 minutes ago
  // Delivered at once.
  await insert(db, { status: "delivered", lane: 1, createdAgo: 11 * MIN, completedAgo: 10 * MIN }, [
    { n: 1, agoMs: 10 * MIN, outcome: "accepted" },
  ]);
  // Delivered after a retry.
  await insert(db, { status: "delivered", lane: 0, createdAgo: 8 * MIN, completedAgo: 5 * MIN }, [
    { n: 1, agoMs: 7 * MIN, outcome: "failed", error: T20500 },
    { n: 2, agoMs: 6 * MIN, outcome: "accepted" },
  ]);
  // Failed at once, permanently.
  await insert(
    db,
    {
      status: "failed",
      lane: 1,
      createdAgo: 4 * MIN,
      completedAgo: 3 * MIN,
      error: ["21211", "recipient_permanent"],
    },
    [{ n: 1, agoMs: 3 * MIN, outcome: "failed", error: ["21211", "recipient_permanent"] }],
  );
  // Accepted, then an undelivered receipt.
  await insert(
    db,
    {
      status: "undelivered",
      lane: 2,
      createdAgo: 5 * MIN,
      completedAgo: 2 * MIN,
      error: ["30003", "transient"],
    },
    [{ n: 1, agoMs: 4 * MIN, outcome: "accepted" }],
  );
  // Failed after three calls, through the backup account.
  await insert(
    db,
    { status: "failed", lane: 2, createdAgo: 21 * MIN, completedAgo: 14 * MIN, error: T20500 },
    [
      { n: 1, agoMs: 20 * MIN, outcome: "failed", error: T20500, account: "backup", latency: 300 },
      { n: 2, agoMs: 15 * MIN, outcome: "failed", error: T20500, account: "backup", latency: 300 },
      { n: 3, agoMs: 14 * MIN, outcome: "failed", error: T20500, account: "backup", latency: 300 },
    ],
  );
  // Waiting for its third call (its first was three hours ago): high lane, not due yet.
  await insert(db, { status: "queued", lane: 0, createdAgo: 200 * MIN, runAgo: -30_000 }, [
    { n: 1, agoMs: 180 * MIN, outcome: "failed", error: T20500 },
    { n: 2, agoMs: 1 * MIN, outcome: "failed", error: ["20429", "rate_limited"] },
  ]);
  // Due: normal lane for 120 s and 30 s, low lane for 600 s.
  await insert(db, { status: "queued", lane: 1, createdAgo: 2 * MIN });
  await insert(db, { status: "queued", lane: 1, createdAgo: 30_000 });
  await insert(db, { status: "queued", lane: 2, createdAgo: 10 * MIN });
  // In flight.
  await insert(db, { status: "sending", lane: 0, createdAgo: 10_000, attempts: 1 });
  // Waiting for a receipt: one submitted in the window, one three hours ago (not counted).
  await insert(db, { status: "sent", lane: 1, createdAgo: 3 * MIN }, [
    { n: 1, agoMs: 2 * MIN, outcome: "accepted" },
  ]);
  await insert(db, { status: "sent", lane: 1, createdAgo: 180 * MIN }, [
    { n: 1, agoMs: 180 * MIN, outcome: "accepted" },
  ]);
  // Scheduled for later.
  await insert(db, { status: "scheduled", lane: 1, createdAgo: MIN, runAgo: -60 * MIN });
  await insert(db, { status: "scheduled", lane: 2, createdAgo: MIN, runAgo: -120 * MIN });
  // Called exactly at the window's start (counted), delivered a second before it (not).
  await insert(
    db,
    { status: "delivered", lane: 1, createdAgo: since + 5000, completedAgo: since + 1000 },
    [{ n: 1, agoMs: since, outcome: "accepted" }],
  );
  // Ended without a call: expired (its last error has no class), canceled.
  await insert(db, {
    status: "expired",
    lane: 2,
    createdAgo: 35 * MIN,
    completedAgo: 30 * MIN,
    error: ["expired", null],
  });
  await insert(db, { status: "canceled", lane: 1, createdAgo: 45 * MIN, completedAgo: 40 * MIN });
  // A worker died mid-call; the next one found the message at the provider.
  await insert(db, { status: "sent", lane: 0, createdAgo: 51 * MIN }, [
    {
      n: 1,
      agoMs: 50 * MIN,
      outcome: "abandoned",
      error: ["lease_expired", "ambiguous"],
      latency: null,
    },
    { n: 2, agoMs: 49 * MIN, outcome: "reconciled" },
  ]);
}

const none = { delivered: 0, undelivered: 0, failed: 0, expired: 0, canceled: 0, suppressed: 0 };

describe.each(ENGINES)("stats on %s", (engine) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore(engine);
    await seedHistory(store.db);
  });
  afterAll(() => store?.close());

  it("counts the window's calls, outcomes, errors, retries and queue exactly", async () => {
    const s = await getStats(store.db, { windowMinutes: 60, now: new Date(T) });
    expect(s.window).toEqual({
      minutes: 60,
      bucketSeconds: 60,
      since: "2026-11-23T11:01:00.000Z",
      until: "2026-11-23T12:00:30.000Z",
    });
    expect(s.totals).toEqual({
      attempts: 13,
      sent: 6,
      failed: 7,
      completed: 7,
    });
    expect(s.outcomes).toEqual({
      delivered: 2,
      undelivered: 1,
      failed: 2,
      expired: 1,
      canceled: 1,
      suppressed: 0,
    });
    expect(s.deliveryRate).toBe(0.4);
    // Of the messages that ended after a call: 1 + 2 + 1 + 1 + 3 calls for 5.
    expect(s.attemptsPerMessage).toBe(1.6);
    expect(s.retries).toEqual({
      messages: 4,
      succeeded: 2,
      failed: 1,
      pending: 1,
      successRate: 0.6667,
    });
    expect(s.errors.byClass).toEqual([
      { class: "transient", attempts: 4, messages: 2 },
      { class: "recipient_permanent", attempts: 1, messages: 1 },
      { class: "ambiguous", attempts: 1, messages: 0 },
      { class: "rate_limited", attempts: 1, messages: 0 },
      { class: null, attempts: 0, messages: 1 },
    ]);
    expect(s.errors.byCode).toEqual([
      { code: "20500", class: "transient", attempts: 4, messages: 1 },
      { code: "21211", class: "recipient_permanent", attempts: 1, messages: 1 },
      { code: "20429", class: "rate_limited", attempts: 1, messages: 0 },
      { code: "30003", class: "transient", attempts: 0, messages: 1 },
      { code: "expired", class: null, attempts: 0, messages: 1 },
      { code: "lease_expired", class: "ambiguous", attempts: 1, messages: 0 },
    ]);
    expect(s.queue).toEqual({
      scheduled: 2,
      lanes: [
        {
          lane: "high",
          queued: 1,
          due: 0,
          oldestDueSeconds: null,
          sending: 1,
          sent: 1,
          completed: { ...none, delivered: 1 },
        },
        {
          lane: "normal",
          queued: 2,
          due: 2,
          oldestDueSeconds: 120,
          sending: 0,
          sent: 1,
          completed: { ...none, delivered: 1, failed: 1, canceled: 1 },
        },
        {
          lane: "low",
          queued: 1,
          due: 1,
          oldestDueSeconds: 600,
          sending: 0,
          sent: 0,
          completed: { ...none, undelivered: 1, failed: 1, expired: 1 },
        },
      ],
    });
    expect(s.accounts).toEqual([
      { account: "backup", attempts: 3, sent: 0, failed: 3, latencyMs: 300 },
      { account: "primary", attempts: 10, sent: 6, failed: 4, latencyMs: 100 },
    ]);
  });

  it("puts each call and ending in its minute", async () => {
    const s = await getStats(store.db, { windowMinutes: 60, now: new Date(T) });
    expect(s.series).toHaveLength(60);
    expect(s.series[0]?.at).toBe("2026-11-23T11:01:00.000Z");
    expect(s.series[59]?.at).toBe("2026-11-23T12:00:00.000Z");
    // Bucket of "k minutes ago" is 59 - k.
    const nonEmpty = Object.fromEntries(
      s.series
        .map((p, i) => [i, p] as const)
        .filter(([, p]) => p.sent + p.failed + p.delivered + p.undelivered > 0)
        .map(([i, { sent, failed, delivered, undelivered }]) => [
          i,
          [sent, failed, delivered, undelivered],
        ]),
    );
    expect(nonEmpty).toEqual({
      0: [1, 0, 0, 0], // called at the window's start
      9: [0, 1, 0, 0], // abandoned
      10: [1, 0, 0, 0], // reconciled
      39: [0, 1, 0, 0],
      44: [0, 1, 0, 0],
      45: [0, 1, 0, 1], // third failure, and the message fails
      49: [1, 0, 1, 0],
      52: [0, 1, 0, 0],
      53: [1, 0, 0, 0],
      54: [0, 0, 1, 0],
      55: [1, 0, 0, 0],
      56: [0, 1, 0, 1],
      57: [1, 0, 0, 1],
      58: [0, 1, 0, 0],
    });
  });

  it("narrows to a shorter window and empties a quiet one", async () => {
    const s = await getStats(store.db, { windowMinutes: 5, now: new Date(T) });
    // 5-second buckets from 11:55:35: the calls 4, 2 and 1 minutes ago; endings 3 and 2.
    expect(s.window.bucketSeconds).toBe(5);
    expect(s.window.since).toBe("2026-11-23T11:55:35.000Z");
    expect(s.totals).toMatchObject({ attempts: 4, sent: 2, failed: 2, completed: 2 });
    expect(s.outcomes).toMatchObject({ failed: 1, undelivered: 1 });
    const later = await getStats(store.db, { windowMinutes: 1, now: new Date(T + 24 * 60 * MIN) });
    expect(later.totals).toEqual({
      attempts: 0,
      sent: 0,
      failed: 0,
      completed: 0,
    });
    expect(later.deliveryRate).toBeNull();
    expect(later.attemptsPerMessage).toBeNull();
    expect(later.retries.successRate).toBeNull();
    // The queue is the queue whatever the window: only `sent` is bounded by it.
    expect(later.queue.lanes.map((l) => [l.queued, l.due, l.sending, l.sent])).toEqual([
      [1, 1, 1, 0],
      [2, 2, 0, 0],
      [1, 1, 0, 0],
    ]);
    expect(later.queue.scheduled).toBe(2);
  });

  it("defaults to the last hour by the database's clock and refuses a bad window", async () => {
    const s = await getStats(store.db);
    expect(s.window.minutes).toBe(60);
    expect(Math.abs(Date.parse(s.window.until) - Date.now())).toBeLessThan(60_000);
    await expect(getStats(store.db, { windowMinutes: 0 })).rejects.toThrow(/window/);
    await expect(getStats(store.db, { windowMinutes: 1441 })).rejects.toThrow(/window/);
  });
});
