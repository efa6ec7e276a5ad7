// applyReceipts over a whole batch (one statement) against the same receipts applied one by
// one: duplicates, out-of-order and repeated receipts for one message inside a batch, receipts
// already recorded, stale ones for messages sent again, opt-outs and unknown ids must leave the
// store exactly as applying them one at a time, in order, does. Both engines.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../../src/store/db.js";
import { applyReceipts, type Receipt, type ReceiptResult } from "../../src/store/receipts.js";
import { ENGINES, openTestStore, type TestStore } from "../helpers/db.js";

type Status = Receipt["status"];

function receipt(pid: string, status: Status, extra: Partial<Receipt> = {}): Receipt {
  return {
    provider: "twilio",
    providerMessageId: pid,
    status,
    providerStatus: status,
    dedupeKey: `twilio:${pid}:${status}`,
    ...extra,
  };
}

// Messages by their status at the start, with the provider id they carry.
const MESSAGES: [string, string, string][] = [
  ["msg_a", "sent", "SMa"],
  ["msg_b", "sent", "SMb"],
  ["msg_c", "sent", "SMc"],
  ["msg_d", "delivered", "SMd"],
  ["msg_e", "sending", "SMe"], // sent again: SMe is the earlier send's id
  ["msg_f", "queued", "SMf"],
  ["msg_g", "sent", "SMg"],
];

async function setup(db: Db): Promise<void> {
  await db.query(
    `insert into smsq.messages (id, api_key_id, to_number, body, segments, encoding, priority,
                                lane, status, run_at, provider, account, provider_message_id)
     select id, 'k', '+1415200000' || n, 'hi', 1, 'GSM-7', 'normal', 1, status, now(),
            'twilio', 'twilio', pid
     from unnest($1::text[], $2::text[], $3::text[]) with ordinality as t(id, status, pid, n)`,
    [MESSAGES.map((m) => m[0]), MESSAGES.map((m) => m[1]), MESSAGES.map((m) => m[2])],
  );
  // SMg's `delivered` was recorded before (as an event that moved nothing), so it is seen.
  await db.query(
    `insert into smsq.message_events (message_id, type, source, dedupe_key)
     values ('msg_g', 'receipt', 'receipt', 'twilio:SMg:delivered')`,
  );
}

/** Everything a receipt can change, without ids and times. */
async function snapshot(db: Db): Promise<unknown> {
  return {
    messages: await db.query(
      `select id, status, last_error_code, last_error_message, last_error_class,
              completed_at is not null as completed
       from smsq.messages order by id`,
    ),
    events: await db.query(
      `select message_id, type, from_status, to_status, source, dedupe_key, detail
       from smsq.message_events order by id`,
    ),
    suppressions: await db.query(
      "select phone, reason, source from smsq.suppressions order by phone",
    ),
    held: await db.query(
      `select dedupe_key, provider, provider_message_id, receipt
       from smsq.pending_receipts order by dedupe_key`,
    ),
  };
}

const sum = (rs: ReceiptResult[]) => ({
  applied: rs.reduce((a, r) => a + r.applied, 0),
  ignored: rs.reduce((a, r) => a + r.ignored, 0),
  // A repeat of an unknown id is held once: one by one it counts as held again, in a batch
  // as a duplicate. Either way it is not applied; compare the two together.
  notApplied: rs.reduce((a, r) => a + r.duplicates + r.unmatched.length, 0),
});

const BATCH: Receipt[] = [
  // Out of order for one message: `delivered` before `sent`, then its repeat.
  receipt("SMa", "delivered"),
  receipt("SMa", "sent"),
  receipt("SMa", "delivered"),
  // Two final reports: the first wins, the second is recorded and changes nothing.
  receipt("SMb", "undelivered", { errorCode: "30003", errorMessage: "unreachable" }),
  receipt("SMb", "delivered"),
  receipt("SMb", "undelivered", { errorCode: "30003", errorMessage: "unreachable" }),
  // An opt-out, twice.
  receipt("SMc", "sent"),
  receipt("SMc", "failed", { errorCode: "30004", errorClass: "permanent", optOut: true }),
  receipt("SMc", "failed", { errorCode: "30004", errorClass: "permanent", optOut: true }),
  // Final already; sent again; still queued: recorded, nothing moves.
  receipt("SMd", "failed"),
  receipt("SMe", "delivered"),
  receipt("SMf", "delivered"),
  // A receipt recorded before is a duplicate; the next new final one moves the message.
  receipt("SMg", "delivered"),
  receipt("SMg", "undelivered", { errorCode: "30005" }),
  // Unknown ids are held, once.
  receipt("SMx", "delivered"),
  receipt("SMx", "delivered"),
  receipt("SMy", "sent"),
];

/** A seeded shuffle (mulberry32), so a failure names its permutation. */
function shuffled<T>(xs: readonly T[], seed: number): T[] {
  let a = seed >>> 0;
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe.each(ENGINES)("applyReceipts in one batch (%s)", (engine) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await openTestStore(engine);
  });
  afterAll(async () => {
    await store?.close();
  });
  beforeEach(async () => {
    await store.reset();
  });

  /** Applies `batch` one by one, then all at once on a fresh store; returns both outcomes. */
  async function both(batch: readonly Receipt[]) {
    await setup(store.db);
    const each: ReceiptResult[] = [];
    for (const r of batch) each.push(await applyReceipts(store.db, [r]));
    const oneByOne = { result: sum(each), state: await snapshot(store.db) };
    await store.reset();
    await setup(store.db);
    const once = await applyReceipts(store.db, batch);
    const batched = { result: sum([once]), state: await snapshot(store.db) };
    return { oneByOne, batched, once };
  }

  it("gives the store the same end state and counts as one by one", async () => {
    const { oneByOne, batched, once } = await both(BATCH);
    expect(batched).toEqual(oneByOne);
    // And the outcome the lifecycle asks for.
    expect(once).toMatchObject({ applied: 4, ignored: 6, duplicates: 5 });
    expect(once.unmatched.map((r) => r.providerMessageId)).toEqual(["SMx", "SMy"]);
    const statuses = await store.db.query<{ id: string; status: string }>(
      "select id, status from smsq.messages order by id",
    );
    expect(Object.fromEntries(statuses.map((m) => [m.id, m.status]))).toEqual({
      msg_a: "delivered",
      msg_b: "undelivered",
      msg_c: "failed",
      msg_d: "delivered",
      msg_e: "sending",
      msg_f: "queued",
      msg_g: "undelivered",
    });
    const moved = await store.db.query<{ message_id: string; to_status: string }>(
      `select message_id, to_status from smsq.message_events
       where to_status is not null order by message_id`,
    );
    expect(moved).toEqual([
      { message_id: "msg_a", to_status: "delivered" },
      { message_id: "msg_b", to_status: "undelivered" },
      { message_id: "msg_c", to_status: "failed" },
      { message_id: "msg_g", to_status: "undelivered" },
    ]);
  });

  it("matches one by one in any order", async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const batch = shuffled(BATCH, seed);
      const { oneByOne, batched } = await both(batch);
      expect(batched, `permutation ${seed}`).toEqual(oneByOne);
      await store.reset();
    }
  });

  it("applies a batch of 200 receipts for 100 messages in one call", async () => {
    await store.db.query(
      `insert into smsq.messages (id, api_key_id, to_number, body, segments, encoding,
                                  priority, lane, status, run_at, provider, account,
                                  provider_message_id)
       select 'msg_' || g, 'k', '+1415' || (3000000 + g), 'hi', 1, 'GSM-7', 'normal', 1,
              'sent', now(), 'twilio', 'twilio', 'SM' || g
       from generate_series(1, 100) g`,
    );
    const batch = Array.from({ length: 100 }, (_, i) => [
      receipt(`SM${i + 1}`, "sent"),
      receipt(`SM${i + 1}`, "delivered"),
    ]).flat();
    expect(await applyReceipts(store.db, batch)).toEqual({
      applied: 100,
      ignored: 100,
      duplicates: 0,
      unmatched: [],
    });
    const n = await store.db.query<{ n: number }>(
      "select count(*)::int as n from smsq.messages where status = 'delivered'",
    );
    expect(n[0]?.n).toBe(100);
  });
});
