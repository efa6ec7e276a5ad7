// The partitioning plan of docs/retention.md is exact DDL: this runs every SQL statement between
// its partition-plan markers, in order, against the real schema with rows in it, on PGlite and
// on PostgreSQL, and checks what the plan promises: old rows stay readable, new rows land in the
// monthly partitions with ids that go on from the old ones, the cut-over builds no index, the
// stats queries and a message's history read the partitioned tables, receipts need step 0's
// code change, and a whole month goes with one DROP TABLE.
import { readFileSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getMessage } from "../../src/store/messages.js";
import { applyReceipts } from "../../src/store/receipts.js";
import { getStats } from "../../src/store/stats.js";
import { ENGINES, openTestStore, type TestStore } from "../helpers/db.js";

const doc = readFileSync(new URL("../../docs/retention.md", import.meta.url), "utf8");
const plan = doc.slice(
  doc.indexOf("<!-- partition-plan:start -->"),
  doc.indexOf("<!-- partition-plan:end -->"),
);
/** The plan's statements, by step ("Step 0" …), in order. */
const steps = new Map<string, string[]>();
for (const part of plan.split(/^### /m).slice(1)) {
  const name = /^(Step \d)/.exec(part)?.[1];
  if (!name) continue;
  const sql = [...part.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1] as string).join("\n");
  steps.set(
    name,
    sql
      .split(/;\s*(?:\n|$)/)
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );
}

const MSG = "msg_01J0000000000000000000OLD";

describe.each(ENGINES)("the partitioning plan on %s", (engine) => {
  let store: TestStore;
  let client: pg.Client | null = null;
  /** Runs one statement on one session (the plan's transactions span statements). */
  let run: (sql: string) => Promise<void>;

  beforeAll(async () => {
    store = await openTestStore(engine);
    if (store.url) {
      client = new pg.Client({ connectionString: store.url });
      await client.connect();
      const c = client;
      run = async (sql) => {
        await c.query(sql);
      };
    } else {
      run = (sql) => store.db.exec(sql);
    }
  });
  afterAll(async () => {
    await client?.end();
    await store?.close();
  });

  const indexOids = async (table: string) =>
    (
      await store.db.query<{ oid: number }>(
        `select indexrelid::int as oid from pg_index where indrelid = $1::regclass order by 1`,
        [table],
      )
    ).map((r) => r.oid);

  it("runs step by step on a store with history, and keeps every promise", async () => {
    expect([...steps.keys()]).toEqual(["Step 0", "Step 1", "Step 2", "Step 3"]);
    const db = store.db;
    // History before the cut-over: a message with two attempts and two events (one a receipt).
    await db.query(
      `insert into smsq.messages (id, api_key_id, to_number, body, segments, encoding, priority,
         lane, status, run_at, created_at, sent_at, provider, account, provider_message_id)
       values ($1, 'k', '+14155550100', 'hi', 1, 'GSM-7', 'normal', 1, 'sent',
               '2026-06-10', '2026-06-10', '2026-06-10', 'sandbox', 'sandbox', 'SB1')`,
      [MSG],
    );
    for (const at of ["2026-05-20T10:00:00Z", "2026-06-10T10:00:00Z"]) {
      await db.query(
        `insert into smsq.attempts (message_id, attempt, provider, account, outcome, started_at,
           finished_at) values ($1, 1, 'sandbox', 'sandbox', 'accepted', $2, $2)`,
        [MSG, at],
      );
    }
    await db.query(
      `insert into smsq.message_events (message_id, at, type, source, dedupe_key)
       values ($1, '2026-06-10T10:00:00Z', 'receipt', 'receipt', 'sandbox:SB1:sent'),
              ($1, '2026-05-20T10:00:00Z', 'status', 'dispatcher', null)`,
      [MSG],
    );

    for (const s of [...(steps.get("Step 0") ?? []), ...(steps.get("Step 1") ?? [])]) {
      await run(s);
    }
    const before = {
      attempts: await indexOids("smsq.attempts"),
      message_events: await indexOids("smsq.message_events"),
    };
    expect(
      (await db.query<{ n: number }>("select count(*)::int as n from smsq.receipt_keys"))[0]?.n,
    ).toBe(1);

    for (const s of steps.get("Step 2") ?? []) await run(s);

    // The old table is now the partition before B, with the indexes it had (none built), less
    // its old primary key.
    for (const t of ["attempts", "message_events"] as const) {
      const legacy = await indexOids(`smsq.${t}_legacy`);
      expect(legacy).toHaveLength(before[t].length - 1);
      for (const oid of legacy) expect(before[t]).toContain(oid);
      const kind = await db.query<{ relkind: string }>(
        `select relkind from pg_class where oid = 'smsq.${t}'::regclass`,
      );
      expect(kind[0]?.relkind).toBe("p");
    }

    // New rows: into July's partition, ids after the old ones; old rows still read.
    const added = await db.query<{ id: number; part: string }>(
      `insert into smsq.attempts (message_id, attempt, provider, account, outcome, started_at,
         finished_at, latency_ms)
       values ($1, 2, 'sandbox', 'sandbox', 'accepted', '2026-07-05T10:00:00Z',
               '2026-07-05T10:00:00Z', 40)
       returning id, tableoid::regclass::text as part`,
      [MSG],
    );
    expect(added[0]).toMatchObject({ id: 3, part: "smsq.attempts_2026_07" });
    const ev = await db.query<{ id: number; part: string }>(
      `insert into smsq.message_events (message_id, at, type, source)
       values ($1, '2026-07-05T10:00:00Z', 'status', 'dispatcher')
       returning id, tableoid::regclass::text as part`,
      [MSG],
    );
    expect(ev[0]).toMatchObject({ id: 3, part: "smsq.message_events_2026_07" });

    // The app's reads run unchanged: a message's history across partitions, and the stats.
    const detail = await getMessage(db, MSG);
    expect(detail?.attempts).toHaveLength(3);
    expect(detail?.events).toHaveLength(3);
    const stats = await getStats(db, { now: new Date("2026-07-05T10:30:00Z") });
    expect(stats.totals.attempts).toBe(1);

    // Receipts need step 0's code: ON CONFLICT (dedupe_key) has no unique index to use now.
    await expect(
      applyReceipts(db, [
        {
          provider: "sandbox",
          providerMessageId: "SB1",
          status: "delivered",
          providerStatus: "delivered",
          dedupeKey: "sandbox:SB1:delivered",
        },
      ]),
    ).rejects.toThrow(/ON CONFLICT/i);

    // Step 3: a month ahead is attached; the old table and July go whole.
    for (const s of steps.get("Step 3") ?? []) await run(s);
    const parts = await db.query<{ name: string }>(
      `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
       where i.inhparent = 'smsq.attempts'::regclass order by 1`,
    );
    expect(parts.map((p) => p.name)).toEqual([
      "attempts_2026_08",
      "attempts_2026_09",
      "attempts_2026_10",
    ]);
    const oct = await db.query<{ part: string }>(
      `insert into smsq.attempts (message_id, attempt, provider, account, outcome, started_at,
         finished_at) values ($1, 3, 'sandbox', 'sandbox', 'failed', '2026-10-02', '2026-10-02')
       returning tableoid::regclass::text as part`,
      [MSG],
    );
    expect(oct[0]?.part).toBe("smsq.attempts_2026_10");
    const left = await db.query<{ a: number; e: number }>(
      `select (select count(*) from smsq.attempts)::int as a,
              (select count(*) from smsq.message_events)::int as e`,
    );
    expect(left[0]).toEqual({ a: 1, e: 0 });
  });
});
