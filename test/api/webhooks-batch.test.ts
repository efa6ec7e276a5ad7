// Group commit of status callbacks over real HTTP: concurrent signed callbacks share batches,
// every one is applied and answered, none is answered before its batch has committed, a
// failing store fails every request of the batch, and a receipt that alone makes the store
// fail fails only its own request.
import twilio from "twilio";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Account } from "../../src/config/accounts.js";
import type { Db, Queryable } from "../../src/store/db.js";
import { countRows, ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import { startServer, type Api } from "./http.js";
import { twilioAccount } from "../helpers/accounts.js";

const SID = "AC" + "c".repeat(32);
const TOKEN = "twilio-token-for-batch-tests";
const PUBLIC = "https://sms.example.com";
const PATH = "/v1/webhooks/twilio/status";
const accounts: Account[] = [twilioAccount(SID, TOKEN)];

/** The store, with a hook before each receipt statement (to count, delay or fail them). */
interface Hooked {
  db: Db;
  calls: string[][];
  before: ((pids: string[]) => Promise<void>) | null;
}

const isApply = (sql: string) => sql.includes("insert into smsq.pending_receipts");

function hooked(inner: Db): Hooked {
  const h: Hooked = { db: inner, calls: [], before: null };
  const query: Queryable["query"] = async (sql, params) => {
    if (isApply(sql)) {
      const pids = (params?.[1] ?? []) as string[];
      h.calls.push(pids);
      if (h.before) await h.before(pids);
    }
    return inner.query(sql, params);
  };
  h.db = {
    kind: inner.kind,
    query,
    exec: (sql) => inner.exec(sql),
    transaction: (fn) => inner.transaction(fn),
    close: () => inner.close(),
  };
  return h;
}

describe.each(ENGINES)("webhook group commit (%s)", (engine) => {
  let store: TestStore;
  let h: Hooked;
  let api: Api;

  beforeAll(async () => {
    store = await openTestStore(engine);
    h = hooked(store.db);
    api = await startServer(h.db, { accounts, publicUrl: PUBLIC });
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
  });
  beforeEach(async () => {
    await store.reset();
    h.calls = [];
    h.before = null;
  });

  const status = (sid: string, s: string) => {
    const params = { AccountSid: SID, MessageSid: sid, MessageStatus: s };
    return fetch(api.base + PATH, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio.getExpectedTwilioSignature(TOKEN, PUBLIC + PATH, params),
      },
      body: new URLSearchParams(params).toString(),
    });
  };

  /** n messages `sent` with provider ids SM1…SMn. */
  const sentMessages = (n: number) =>
    store.db.query(
      `insert into smsq.messages (id, api_key_id, to_number, body, segments, encoding,
                                  priority, lane, status, run_at, provider, account,
                                  provider_message_id)
       select 'msg_' || g, 'k', '+1415' || (3000000 + g), 'hi', 1, 'GSM-7', 'normal', 1,
              'sent', now(), 'twilio', 'twilio', 'SM' || g
       from generate_series(1, $1::int) g`,
      [n],
    );
  const delivered = async () =>
    (
      await store.db.query<{ n: number }>(
        "select count(*)::int as n from smsq.messages where status = 'delivered'",
      )
    )[0]?.n;

  it("applies and answers every one of N concurrent callbacks, in fewer statements", async () => {
    const n = 60;
    await sentMessages(n);
    const before = { ...api.app.webhookStats.receipts };
    const posts = [];
    for (let i = 1; i <= n; i++) {
      posts.push(status(`SM${i}`, "sent"), status(`SM${i}`, "delivered"));
    }
    posts.push(status("SM-unknown", "delivered"));
    const codes = (await Promise.all(posts)).map((r) => r.status);
    expect(codes).toEqual(Array(2 * n + 1).fill(204));
    expect(await delivered()).toBe(n);
    const after = api.app.webhookStats.receipts;
    expect(after.applied - before.applied).toBe(n);
    expect(after.ignored - before.ignored).toBe(n);
    expect(after.held - before.held).toBe(1);
    // Every receipt went through a statement, and on PostgreSQL they shared statements. (In
    // memory, PGlite runs each statement synchronously in this thread, so requests from a
    // client in the same process arrive one per batch; under outside load they share too.)
    expect(h.calls.flat()).toHaveLength(2 * n + 1);
    if (engine === "postgres") expect(h.calls.length).toBeLessThan(2 * n + 1);
    expect(Math.max(...h.calls.map((c) => c.length))).toBeLessThanOrEqual(200);
  });

  it("answers no callback before its batch has committed", async () => {
    await sentMessages(5);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    h.before = () => gate;
    let answered = 0;
    const posts = [1, 2, 3, 4, 5].map((i) =>
      status(`SM${i}`, "delivered").then((r) => {
        answered += 1;
        return r.status;
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(answered).toBe(0);
    expect(await delivered()).toBe(0);
    release();
    expect(await Promise.all(posts)).toEqual([204, 204, 204, 204, 204]);
    expect(await delivered()).toBe(5);
  });

  it("fails every request of a batch when the store fails, and changes nothing", async () => {
    await sentMessages(20);
    const before = await countRows(store.db);
    h.before = () => Promise.reject(Object.assign(new Error("down"), { code: "57P01" }));
    const down = await Promise.all(
      Array.from({ length: 20 }, (_, i) => status(`SM${i + 1}`, "delivered")),
    );
    expect(down.map((r) => r.status)).toEqual(Array(20).fill(503));
    h.before = () => Promise.reject(new Error("a bug"));
    const broken = await Promise.all(
      Array.from({ length: 20 }, (_, i) => status(`SM${i + 1}`, "delivered")),
    );
    expect(broken.map((r) => r.status)).toEqual(Array(20).fill(500));
    expect(await countRows(store.db)).toEqual(before);
    // The provider's retries then go through.
    h.before = null;
    const retried = await Promise.all(
      Array.from({ length: 20 }, (_, i) => status(`SM${i + 1}`, "delivered")),
    );
    expect(retried.map((r) => r.status)).toEqual(Array(20).fill(204));
    expect(await delivered()).toBe(20);
  });

  it("fails only the request whose receipt the store refuses", async () => {
    await sentMessages(20);
    h.before = async (pids) => {
      if (pids.includes("SM7")) throw new Error("this receipt cannot be stored");
    };
    const res = await Promise.all(
      Array.from({ length: 20 }, (_, i) => status(`SM${i + 1}`, "delivered")),
    );
    expect(res.map((r, i) => [i + 1, r.status]).filter(([, s]) => s !== 204)).toEqual([[7, 500]]);
    expect(await delivered()).toBe(19);
  });
});
