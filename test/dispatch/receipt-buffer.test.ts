// The in-process ReceiptBuffer (sandbox provider): a receipt the store refuses for a reason
// other than an outage is dropped alone; before, the whole batch was retried forever and
// every receipt queued behind it waited. An outage still keeps everything for later.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ReceiptBuffer } from "../../src/dispatch/receipts.js";
import type { Db } from "../../src/store/db.js";
import type { Receipt } from "../../src/store/receipts.js";
import { ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";

const receipt = (pid: string): Receipt => ({
  provider: "sandbox",
  providerMessageId: pid,
  status: "delivered",
  providerStatus: "delivered",
  dedupeKey: `sandbox:${pid}:delivered`,
});

describe.each(ENGINES)("ReceiptBuffer (%s)", (engine) => {
  let store: TestStore;
  let fail: ((pids: string[]) => Error | null) | null = null;
  let db: Db;
  beforeAll(async () => {
    store = await openTestStore(engine);
    const inner = store.db;
    db = {
      kind: inner.kind,
      query: async (sql, params) => {
        const err =
          sql.includes("smsq.pending_receipts") && fail?.((params?.[1] ?? []) as string[]);
        if (err) throw err;
        return inner.query(sql, params);
      },
      exec: (sql) => inner.exec(sql),
      transaction: (fn) => inner.transaction(fn),
      close: () => inner.close(),
    };
  });
  afterAll(async () => {
    await store?.close();
  });
  beforeEach(async () => {
    await store.reset();
    fail = null;
    await store.db.query(
      `insert into smsq.messages (id, api_key_id, to_number, body, segments, encoding,
                                  priority, lane, status, run_at, provider, account,
                                  provider_message_id)
       select 'msg_' || g, 'k', '+1415' || (3000000 + g), 'hi', 1, 'GSM-7', 'normal', 1,
              'sent', now(), 'sandbox', 'sandbox', 'P' || g
       from generate_series(1, 10) g`,
    );
  });
  const delivered = async () =>
    (
      await store.db.query<{ n: number }>(
        "select count(*)::int as n from smsq.messages where status = 'delivered'",
      )
    )[0]?.n;

  it("drops only a receipt the store refuses, and applies the rest", async () => {
    fail = (pids) => (pids.includes("P3") ? new Error("cannot store this one") : null);
    const buf = new ReceiptBuffer(db, silentLog, { flushMs: 1 });
    for (let i = 1; i <= 10; i++) buf.push(receipt(`P${i}`));
    await buf.close();
    expect(await delivered()).toBe(9);
    expect(buf.counts).toMatchObject({ applied: 9, failed: 1 });
    expect(buf.pending).toBe(0);
  });

  it("keeps everything through an outage", async () => {
    fail = () => Object.assign(new Error("down"), { code: "57P01" });
    const buf = new ReceiptBuffer(db, silentLog, { flushMs: 1 });
    for (let i = 1; i <= 10; i++) buf.push(receipt(`P${i}`));
    await buf.flush();
    expect(buf.pending).toBe(10);
    fail = null;
    await buf.close();
    expect(await delivered()).toBe(10);
    expect(buf.counts).toMatchObject({ applied: 10, failed: 0 });
  });
});
