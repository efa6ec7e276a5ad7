// Retention on a hand-made history with a fixed clock, on PGlite and on PostgreSQL: which bodies
// are redacted, which attempts, events and messages deleted, that nothing waiting to be sent is
// touched, that a dry run changes nothing and counts exactly what the run then does, that every
// statement stays within its batch and on its index, and that one worker at a time runs it.
import { describe, expect, it } from "vitest";
import { silentLog } from "../helpers/log.js";
import { RetentionTimer } from "../../src/maintenance/retention.js";
import { newMessageId } from "../../src/messages/ids.js";
import type { Db } from "../../src/store/db.js";
import { requeueMessages, retryMessage } from "../../src/store/requeue.js";
import {
  DEFAULT_RETENTION,
  leaseState,
  planCleanup,
  releaseLease,
  runCleanup,
  takeLease,
  type CleanupStep,
} from "../../src/store/retention.js";
import { ENGINES, useTestStore } from "../helpers/db.js";

const DAY = 86_400_000;
// The clock the cutoffs count back from; rows are stamped relative to it.
const T = Date.parse("2026-06-01T12:00:00.000Z");
const ago = (days: number) => new Date(T - days * DAY).toISOString();
const BODY = "Your appointment is tomorrow at 9:00";

interface Msg {
  status: string;
  createdDays: number;
  sentDays?: number;
  completedDays?: number;
  /** Days ago of its attempts' and events' timestamps (one of each per entry). */
  history?: number[];
  idempotencyKey?: string;
}

async function insert(db: Db, m: Msg): Promise<string> {
  const id = newMessageId(T - m.createdDays * DAY);
  await db.query(
    `insert into smsq.messages (id, api_key_id, to_number, body, segments, encoding, priority,
       lane, status, run_at, attempts, created_at, updated_at, sent_at, completed_at)
     values ($1, 'k', '+14155550100', $2, 2, 'GSM-7', 'normal', 1, $3, $4, $5, $4, $4, $6, $7)`,
    [
      id,
      BODY,
      m.status,
      ago(m.createdDays),
      (m.history ?? []).length,
      m.sentDays === undefined ? null : ago(m.sentDays),
      m.completedDays === undefined ? null : ago(m.completedDays),
    ],
  );
  for (const [i, d] of (m.history ?? []).entries()) {
    await db.query(
      `insert into smsq.attempts (message_id, attempt, provider, account, outcome, started_at,
         finished_at)
       values ($1, $2, 'sandbox', 'sandbox', 'accepted', $3, $3)`,
      [id, i + 1, ago(d)],
    );
    await db.query(
      `insert into smsq.message_events (message_id, at, type, to_status, source)
       values ($1, $2, 'status', 'sent', 'dispatcher')`,
      [id, ago(d)],
    );
  }
  if (m.idempotencyKey) {
    await db.query(
      `insert into smsq.idempotency_keys (api_key_id, key, request_hash, message_id, created_at)
       values ('k', $1, 'h', $2, $3)`,
      [m.idempotencyKey, id, ago(m.createdDays)],
    );
  }
  return id;
}

async function message(db: Db, id: string) {
  const rows = await db.query<{
    body: string;
    segments: number;
    encoding: string;
    status: string;
    body_redacted_at: Date | null;
  }>("select body, segments, encoding, status, body_redacted_at from smsq.messages where id = $1", [
    id,
  ]);
  return rows[0];
}

async function count(db: Db, table: string, where = "true", params: unknown[] = []) {
  const rows = await db.query<{ n: number }>(
    `select count(*)::int as n from smsq.${table} where ${where}`,
    params,
  );
  return rows[0]?.n ?? -1;
}

/** Every row of the tables retention touches, as text: to show that a dry run changed nothing. */
async function fingerprint(db: Db): Promise<string> {
  const parts: string[] = [];
  for (const t of ["messages", "attempts", "message_events", "idempotency_keys"]) {
    const rows = await db.query<{ r: string }>(`select t::text as r from smsq.${t} t order by 1`);
    parts.push(rows.map((r) => r.r).join("\n"));
  }
  return parts.join("\n--\n");
}

describe.each(ENGINES)("retention on %s", (engine) => {
  const store = useTestStore(engine);

  /** One of each case, with the defaults (bodies 30 days, history 90, messages kept). */
  async function seed(db: Db) {
    return {
      deliveredOld: await insert(db, {
        status: "delivered",
        createdDays: 31,
        sentDays: 31,
        completedDays: 31,
        history: [31],
      }),
      deliveredRecent: await insert(db, {
        status: "delivered",
        createdDays: 29,
        sentDays: 29,
        completedDays: 29,
        history: [29],
      }),
      // No receipt ever came: its body goes 30 days after the provider accepted it.
      sentOld: await insert(db, { status: "sent", createdDays: 40, sentDays: 40, history: [40] }),
      // Created long ago (scheduled far ahead), sent recently: kept.
      sentRecent: await insert(db, { status: "sent", createdDays: 40, sentDays: 10 }),
      failedAncient: await insert(db, {
        status: "failed",
        createdDays: 100,
        completedDays: 100,
        history: [100, 95],
        idempotencyKey: "ancient",
      }),
      // Waiting or in flight, however old: never touched (their history is by time, though).
      queuedAncient: await insert(db, { status: "queued", createdDays: 100, history: [100] }),
      scheduledAncient: await insert(db, { status: "scheduled", createdDays: 200 }),
      sendingAncient: await insert(db, { status: "sending", createdDays: 100 }),
    };
  }

  it("redacts old bodies, deletes old history, and leaves messages not yet done alone", async () => {
    const db = store.db;
    const ids = await seed(db);
    const r = await runCleanup(db, DEFAULT_RETENTION, { now: new Date(T) });

    expect(r).toMatchObject({ bodies: 3, attempts: 3, events: 3, messages: 0, complete: true });
    for (const id of [ids.deliveredOld, ids.sentOld, ids.failedAncient]) {
      const m = await message(db, id);
      expect(m).toMatchObject({ body: "", segments: 2, encoding: "GSM-7" });
      expect(m?.body_redacted_at).toBeInstanceOf(Date);
    }
    for (const id of [
      ids.deliveredRecent,
      ids.sentRecent,
      ids.queuedAncient,
      ids.scheduledAncient,
      ids.sendingAncient,
    ]) {
      expect((await message(db, id))?.body).toBe(BODY);
    }
    // Attempts and events older than 90 days are gone (the queued message's too: history is
    // by time); the rest stay. No message is deleted with the default settings.
    expect(await count(db, "attempts", "finished_at < $1", [ago(90)])).toBe(0);
    expect(await count(db, "message_events", "at < $1", [ago(90)])).toBe(0);
    expect(await count(db, "attempts")).toBe(3);
    expect(await count(db, "message_events")).toBe(3);
    expect(await count(db, "messages")).toBe(8);
    expect((await message(db, ids.queuedAncient))?.status).toBe("queued");

    // Nothing left: a second run reads nothing and changes nothing.
    const again = await runCleanup(db, DEFAULT_RETENTION, { now: new Date(T) });
    expect(again).toMatchObject({ bodies: 0, attempts: 0, events: 0, messages: 0, batches: 3 });
  });

  it("deletes final messages past SMSQ_RETAIN_MESSAGES_DAYS with everything that refers to them", async () => {
    const db = store.db;
    const ids = await seed(db);
    const s = { bodiesDays: 30, historyDays: 0, messagesDays: 60 };
    const r = await runCleanup(db, s, { now: new Date(T) });
    // Only the failed message ended 60+ days ago; its two attempts, two events and its
    // idempotency key go with it. The queued, scheduled and sending ones are as old, and stay.
    expect(r).toMatchObject({ messages: 1, attempts: 2, events: 2, idempotencyKeys: 1, bodies: 2 });
    expect(await message(db, ids.failedAncient)).toBeUndefined();
    expect(await count(db, "attempts", "message_id = $1", [ids.failedAncient])).toBe(0);
    expect(await count(db, "idempotency_keys")).toBe(0);
    for (const id of [ids.queuedAncient, ids.scheduledAncient, ids.sendingAncient]) {
      expect(await message(db, id)).toMatchObject({ body: BODY });
    }
    expect(await count(db, "messages")).toBe(7);
    // historyDays 0 keeps the other attempts, however old.
    expect(await count(db, "attempts", "message_id = $1", [ids.queuedAncient])).toBe(1);
  });

  it("a dry run changes nothing and counts exactly what the run then does", async () => {
    const db = store.db;
    await seed(db);
    for (const s of [DEFAULT_RETENTION, { bodiesDays: 30, historyDays: 90, messagesDays: 60 }]) {
      await store.reset();
      await seed(db);
      const before = await fingerprint(db);
      const plan = await planCleanup(db, s, { now: new Date(T) });
      expect(await fingerprint(db)).toBe(before);
      const done = await runCleanup(db, s, { now: new Date(T) });
      expect({
        bodies: done.bodies,
        attempts: done.attempts,
        events: done.events,
        messages: done.messages,
        idempotencyKeys: done.idempotencyKeys,
      }).toEqual({
        bodies: plan.bodies,
        attempts: plan.attempts,
        events: plan.events,
        messages: plan.messages,
        idempotencyKeys: plan.idempotencyKeys,
      });
      expect(plan.bodies).toBeGreaterThan(0);
    }
  });

  it("works in bounded batches and goes on where a stopped run left off", async () => {
    const db = store.db;
    for (let i = 0; i < 10; i++) {
      await insert(db, {
        status: "delivered",
        createdDays: 100,
        sentDays: 100,
        completedDays: 100,
      });
    }
    await insert(db, { status: "failed", createdDays: 100, completedDays: 100, history: [95] });
    const seen: [CleanupStep, number][] = [];
    let statements = 0;
    const first = await runCleanup(db, DEFAULT_RETENTION, {
      now: new Date(T),
      batchSize: 3,
      onBatch: (step, n) => {
        seen.push([step, n]);
        statements += 1;
      },
      stopped: () => statements >= 2,
    });
    expect(first.complete).toBe(false);
    expect(seen).toEqual([
      ["bodies", 3],
      ["bodies", 3],
    ]);
    expect(await count(db, "messages", "body = ''")).toBe(6);

    seen.length = 0;
    const rest = await runCleanup(db, DEFAULT_RETENTION, {
      now: new Date(T),
      batchSize: 3,
      onBatch: (step, n) => seen.push([step, n]),
    });
    expect(rest.complete).toBe(true);
    expect(seen).toEqual([
      ["bodies", 3],
      ["bodies", 2],
      ["attempts", 1],
      ["events", 1],
    ]);
    expect(Math.max(...seen.map(([, n]) => n))).toBeLessThanOrEqual(3);
    expect(await count(db, "messages", "body <> ''")).toBe(0);
  });

  it("finds every batch through an index", async () => {
    const db = store.db;
    await seed(db);
    const plans = await db.transaction(async (tx) => {
      // A handful of rows: tell the planner a scan is not an option, to see whether the
      // statement can use the index at all (a partial index whose predicate it does not match
      // would leave it no choice but the scan).
      await tx.query("set local enable_seqscan = off");
      const explain = async (sql: string) =>
        (await tx.query<{ "QUERY PLAN": string }>(`explain ${sql}`))
          .map((r) => r["QUERY PLAN"])
          .join("\n");
      return {
        bodies: await explain(
          `select id from smsq.messages where body_redacted_at is null
           and status in ('sent', 'delivered', 'undelivered', 'failed', 'expired', 'canceled', 'suppressed')
           and coalesce(completed_at, sent_at, created_at) < now()
           order by coalesce(completed_at, sent_at, created_at) limit 1000`,
        ),
        attempts: await explain(
          `select id from smsq.attempts where finished_at < now() order by finished_at limit 1000`,
        ),
        events: await explain(
          `select id from smsq.message_events where at < now() order by at limit 1000`,
        ),
        messages: await explain(
          `select id from smsq.messages where completed_at < now()
           and status in ('delivered', 'undelivered', 'failed', 'expired', 'canceled', 'suppressed')
           order by completed_at limit 1000`,
        ),
      };
    });
    // An index scan, or a bitmap scan of the index (the planner's pick on a tiny table).
    const on = (index: string) => new RegExp(`Index (Only )?Scan (using|on) ${index}\\b`);
    expect(plans.bodies).toMatch(on("messages_redact_idx"));
    expect(plans.attempts).toMatch(on("attempts_finished_idx"));
    expect(plans.events).toMatch(on("message_events_at_idx"));
    // The final-message delete (opt-in) may also pick messages_status_idx on a few rows
    // without statistics; at scale the completed_at range is what is selective.
    expect(plans.messages).toMatch(/Index (Only )?Scan (using|on) messages_\w+_idx/);
    for (const p of Object.values(plans)) expect(p).not.toMatch(/Seq Scan/);
  });

  it("refuses to requeue or resend a message whose body was redacted", async () => {
    const db = store.db;
    const id = await insert(db, { status: "failed", createdDays: 40, completedDays: 40 });
    await runCleanup(db, DEFAULT_RETENTION, { now: new Date(T) });
    await expect(retryMessage(db, id, "api")).rejects.toMatchObject({ code: "invalid_state" });
    const r = await requeueMessages(db, { statuses: ["failed"] }, { dryRun: false, source: "api" });
    expect(r.matched).toBe(0);
    expect((await message(db, id))?.status).toBe("failed");
  });

  it("one worker at a time: a lease, and runs spaced by the interval across workers", async () => {
    const db = store.db;
    expect(await takeLease(db, "t", "a", 60_000, 300_000)).toBe(true);
    expect(await takeLease(db, "t", "b", 60_000, 300_000)).toBe(false);
    await releaseLease(db, "t", "a", { ok: true });
    // Just ran: not again within the interval, by anyone.
    expect(await takeLease(db, "t", "b", 60_000, 300_000)).toBe(false);
    expect(await takeLease(db, "t", "b", 60_000, 0)).toBe(true);
    // A worker that died holding it: the lease runs out and another takes over.
    expect(await takeLease(db, "u", "dead", 1, 0)).toBe(true);
    await new Promise((r) => setTimeout(r, 20));
    expect(await takeLease(db, "u", "c", 60_000, 0)).toBe(true);
    expect((await leaseState(db, "u"))?.owner).toBe("c");

    // Two workers' timers checking at once: one runs the cleanup, the other skips it.
    await insert(db, { status: "delivered", createdDays: 40, sentDays: 40, completedDays: 40 });
    const timers = ["w1", "w2"].map(
      (w) => new RetentionTimer(db, DEFAULT_RETENTION, w, silentLog, { everyMs: 300_000 }),
    );
    const results = await Promise.all(timers.map((t) => t.tick()));
    expect(results.filter((x) => x !== null)).toHaveLength(1);
    expect(results.find((x) => x !== null)?.bodies).toBe(1);
    expect(timers[0]!.runs + timers[1]!.runs).toBe(1);
    const state = await leaseState(db, "retention");
    expect(state).toMatchObject({ owner: null, lease_until: null });
    expect(state?.last_result).toMatchObject({ bodies: 1 });
    // Within the interval, neither runs again.
    expect(await timers[0]!.tick()).toBeNull();
    expect(await timers[1]!.tick()).toBeNull();
  });
});
