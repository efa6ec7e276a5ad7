import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  claimDue,
  expireOverdue,
  promoteScheduled,
  reapExpiredLeases,
  recordOutcomes,
  type Outcome,
} from "../../src/store/dispatch.js";
import { getMessage } from "../../src/store/messages.js";
import {
  applyHeldReceipts,
  applyReceipts,
  applyRecordedHeldReceipts,
  sweepHeldReceipts,
  type Receipt,
} from "../../src/store/receipts.js";
import { ENGINES, openTestStore, useTestStore, type TestStore } from "../helpers/db.js";
import { phone, seed } from "../helpers/seed.js";

const claimOpts = (workerId: string, limit: number) => ({
  workerId,
  limit,
  leaseMs: 60_000,
  accounts: [{ account: "main", provider: "sandbox", position: 0 }],
});

function accepted(id: string, n: number, pid: string): Outcome {
  const t = new Date();
  return {
    messageId: id,
    status: "sent",
    providerMessageId: pid,
    attempt: {
      number: n,
      provider: "sandbox",
      account: "main",
      outcome: "accepted",
      providerStatus: "queued",
      httpStatus: 201,
      startedAt: t,
      finishedAt: t,
    },
  };
}

const receipt = (
  pid: string,
  status: Receipt["status"],
  extra: Partial<Receipt> = {},
): Receipt => ({
  provider: "sandbox",
  providerMessageId: pid,
  status,
  providerStatus: status,
  dedupeKey: `sandbox:${pid}:${status}`,
  ...extra,
});

describe.each(ENGINES)("dispatcher store on %s", (engine) => {
  const store = useTestStore(engine);

  it("claims due messages high lane first, under a lease, counting the attempt", async () => {
    const low = await seed(store.db, 3, { priority: "low" });
    const high = await seed(store.db, 2, { priority: "high" });
    const got = await claimDue(store.db, claimOpts("w1", 4));
    expect(
      got
        .map((m) => m.id)
        .slice(0, 2)
        .sort(),
    ).toEqual([...high].sort());
    expect(got).toHaveLength(4);
    for (const m of got) {
      expect(m.status).toBe("sending");
      expect(m.attempts).toBe(1);
      expect(m.lease_owner).toBe("w1");
      expect(m.suppressed).toBe(false);
    }
    const rest = await claimDue(store.db, claimOpts("w2", 10));
    expect(rest).toHaveLength(1);
    expect(low).toContain(rest[0]?.id);
    expect(await claimDue(store.db, claimOpts("w3", 10))).toHaveLength(0);
  });

  it("claims fresh high-priority messages before retries of low-priority ones", async () => {
    const [retry] = await seed(store.db, 1, { priority: "low" });
    // A low-priority retry, due since a minute ago, after three failed attempts.
    await store.db.query(
      `update smsq.messages set attempts = 3, last_error_code = '30008',
              run_at = now() - interval '1 minute' where id = $1`,
      [retry],
    );
    const [fresh] = await seed(store.db, 1, { priority: "high" });
    const got = await claimDue(store.db, claimOpts("w", 1));
    expect(got.map((m) => m.id)).toEqual([fresh]);
  });

  it("does not claim what is not due, scheduled, or past its validity", async () => {
    const [later] = await seed(store.db, 1);
    const [stale] = await seed(store.db, 1);
    await seed(store.db, 1, { sendAt: new Date(Date.now() + 3600_000).toISOString() });
    await store.db.query(
      "update smsq.messages set run_at = now() + interval '1 hour' where id = $1",
      [later],
    );
    await store.db.query(
      "update smsq.messages set valid_until = now() - interval '1 second' where id = $1",
      [stale],
    );
    expect(await claimDue(store.db, claimOpts("w", 10))).toHaveLength(0);
    expect(await expireOverdue(store.db, 10)).toBe(1);
    const m = await getMessage(store.db, stale as string);
    expect(m?.status).toBe("expired");
    expect(m?.events.at(-1)).toMatchObject({ fromStatus: "queued", toStatus: "expired" });
  });

  it("flags suppressed recipients at claim", async () => {
    await seed(store.db, 2);
    await store.db.query(
      "insert into smsq.suppressions (phone, reason, source) values ($1, 'STOP', 'test')",
      [phone(1)],
    );
    const got = await claimDue(store.db, claimOpts("w", 10));
    expect(got.filter((m) => m.suppressed).map((m) => m.to_number)).toEqual([phone(1)]);
  });

  it("records attempts and status in one step, and only for the lease holder", async () => {
    const [a, b] = await seed(store.db, 2);
    await claimDue(store.db, claimOpts("w1", 10));
    const retryAt = new Date(Date.now() + 5000);
    const lost = await recordOutcomes(store.db, "w1", [
      accepted(a as string, 1, "P-a"),
      {
        messageId: b as string,
        status: "queued",
        runAt: retryAt,
        error: { code: "503", message: "busy", class: "transient" },
        attempt: { ...accepted(b as string, 1, "x").attempt!, outcome: "failed", httpStatus: 503 },
      },
    ]);
    expect(lost).toEqual([]);
    const ma = await getMessage(store.db, a as string);
    expect(ma).toMatchObject({ status: "sent", providerMessageId: "P-a", attemptCount: 1 });
    expect(ma?.attempts).toHaveLength(1);
    expect(ma?.attempts[0]).toMatchObject({ outcome: "accepted", providerMessageId: "P-a" });
    const mb = await getMessage(store.db, b as string);
    expect(mb).toMatchObject({ status: "queued", retrying: true, attemptCount: 1 });
    expect(mb?.lastError).toEqual({ code: "503", message: "busy", class: "transient" });
    expect(new Date(mb?.nextAttemptAt as string).getTime()).toBe(retryAt.getTime());
    expect(mb?.attempts[0]).toMatchObject({
      outcome: "failed",
      httpStatus: 503,
      errorClass: "transient",
    });

    // Another worker cannot record over a message it does not hold, but its call is audited.
    const [c] = await seed(store.db, 1);
    await claimDue(store.db, claimOpts("w1", 10));
    const stolen = await recordOutcomes(store.db, "w2", [accepted(c as string, 1, "P-c")]);
    expect(stolen).toEqual([c]);
    const mc = await getMessage(store.db, c as string);
    expect(mc?.status).toBe("sending");
    expect(mc?.attempts).toHaveLength(1);
  });

  it("refuses an outcome the lifecycle forbids", async () => {
    await expect(
      recordOutcomes(store.db, "w", [{ messageId: "msg_x", status: "scheduled" as never }]),
    ).rejects.toThrow(/illegal move/);
  });

  it("applies receipts idempotently, in any order, never backwards", async () => {
    const [a, b] = await seed(store.db, 2);
    await claimDue(store.db, claimOpts("w", 10));
    await recordOutcomes(store.db, "w", [
      accepted(a as string, 1, "P-a"),
      accepted(b as string, 1, "P-b"),
    ]);

    const r1 = await applyReceipts(store.db, [
      receipt("P-a", "delivered"),
      receipt("P-a", "delivered"),
    ]);
    expect(r1).toMatchObject({ applied: 1, duplicates: 1, ignored: 0 });
    const again = await applyReceipts(store.db, [receipt("P-a", "delivered")]);
    expect(again).toMatchObject({ applied: 0, duplicates: 1 });
    // A late `sent` after `delivered` is kept as an event and changes nothing.
    const late = await applyReceipts(store.db, [receipt("P-a", "sent")]);
    expect(late).toMatchObject({ applied: 0, ignored: 1 });
    const ma = await getMessage(store.db, a as string);
    expect(ma?.status).toBe("delivered");
    expect(ma?.completedAt).not.toBeNull();
    expect(ma?.events.filter((e) => e.type === "receipt")).toHaveLength(2);

    // Undelivered carries the provider's code into the message.
    await applyReceipts(store.db, [
      receipt("P-b", "undelivered", { errorCode: "30003", errorMessage: "unreachable" }),
      receipt("P-b", "delivered"),
    ]);
    const mb = await getMessage(store.db, b as string);
    expect(mb?.status).toBe("undelivered");
    expect(mb?.lastError?.code).toBe("30003");

    const unknown = await applyReceipts(store.db, [receipt("P-nope", "delivered")]);
    expect(unknown.unmatched).toHaveLength(1);
  });

  it("holds a receipt that overtakes its send's record, and applies it once recorded", async () => {
    const [a, b] = await seed(store.db, 2);
    await claimDue(store.db, claimOpts("w", 10));
    // The provider calls back before the dispatcher has written the provider ids.
    const early = await applyReceipts(store.db, [
      receipt("P-a", "delivered"),
      receipt("P-b", "delivered"),
    ]);
    expect(early.unmatched).toHaveLength(2);
    const held = await store.db.query<{ n: number }>(
      "select count(*)::int as n from smsq.pending_receipts",
    );
    expect(held[0]?.n).toBe(2);
    // A repeat of a held receipt is still held once.
    await applyReceipts(store.db, [receipt("P-a", "delivered")]);
    await recordOutcomes(store.db, "w", [
      accepted(a as string, 1, "P-a"),
      accepted(b as string, 1, "P-b"),
    ]);
    // Fast path for P-a; the housekeeping safety net for P-b.
    expect(await applyHeldReceipts(store.db, "sandbox", ["P-a"])).toBe(1);
    expect((await getMessage(store.db, a as string))?.status).toBe("delivered");
    expect((await getMessage(store.db, b as string))?.status).toBe("sent");
    expect(await applyRecordedHeldReceipts(store.db, 100)).toBe(1);
    expect((await getMessage(store.db, b as string))?.status).toBe("delivered");
    const left = await store.db.query<{ n: number }>(
      "select count(*)::int as n from smsq.pending_receipts",
    );
    expect(left[0]?.n).toBe(0);
  });

  it("drops held receipts whose id never becomes known, after the hold time", async () => {
    await applyReceipts(store.db, [receipt("P-ghost", "delivered")]);
    expect(await sweepHeldReceipts(store.db, 60_000)).toBe(0);
    await store.db.query(
      "update smsq.pending_receipts set received_at = now() - interval '2 minutes'",
    );
    expect(await sweepHeldReceipts(store.db, 60_000)).toBe(1);
  });

  it("suppresses the recipient of an opt-out receipt", async () => {
    const [a] = await seed(store.db, 1);
    await claimDue(store.db, claimOpts("w", 10));
    await recordOutcomes(store.db, "w", [accepted(a as string, 1, "P-a")]);
    await applyReceipts(store.db, [
      receipt("P-a", "undelivered", { errorCode: "30004", optOut: true }),
    ]);
    const rows = await store.db.query<{ phone: string; source: string }>(
      "select phone, source from smsq.suppressions",
    );
    expect(rows).toEqual([{ phone: phone(0), source: "receipt" }]);
  });

  it("promotes scheduled messages when their time comes", async () => {
    const [s] = await seed(store.db, 1, { sendAt: new Date(Date.now() + 3600_000).toISOString() });
    expect(await promoteScheduled(store.db, 10)).toBe(0);
    await store.db.query(
      "update smsq.messages set run_at = now() - interval '1 second' where id = $1",
      [s],
    );
    expect(await promoteScheduled(store.db, 10)).toBe(1);
    const m = await getMessage(store.db, s as string);
    expect(m?.status).toBe("queued");
    expect(await claimDue(store.db, claimOpts("w", 10))).toHaveLength(1);
  });

  it("takes back messages from a dead worker, with an abandoned attempt", async () => {
    const [a, b] = await seed(store.db, 2);
    await claimDue(store.db, claimOpts("dead", 10));
    expect(await reapExpiredLeases(store.db, 10, 5)).toBe(0);
    await store.db.query("update smsq.messages set lease_expires_at = now() - interval '1 second'");
    await store.db.query("update smsq.messages set attempts = 5 where id = $1", [b]);
    expect(await reapExpiredLeases(store.db, 10, 5)).toBe(2);
    const ma = await getMessage(store.db, a as string);
    expect(ma).toMatchObject({ status: "queued", retrying: true });
    expect(ma?.lastError?.code).toBe("lease_expired");
    expect(ma?.attempts[0]).toMatchObject({ outcome: "abandoned", errorClass: "ambiguous" });
    expect(ma?.events.at(-1)).toMatchObject({ type: "lease_expired", toStatus: "queued" });
    const mb = await getMessage(store.db, b as string);
    expect(mb?.status).toBe("failed");
    // The dead worker's late record is refused: the message is no longer its.
    expect(await recordOutcomes(store.db, "dead", [accepted(a as string, 1, "late")])).toEqual([a]);
  });
});

describe.each(ENGINES)("concurrent claims on %s", (engine) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore(engine);
  });
  afterAll(async () => {
    await store.close();
  });

  it("never hand one message to two workers", async () => {
    await seed(store.db, 400);
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, i) => claimDue(store.db, claimOpts(`w${i}`, 60))),
    );
    const ids = claims.flat().map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(400);
  });
});
