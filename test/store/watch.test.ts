import { describe, expect, it } from "vitest";
import { watchQueue, DEFAULT_WATCH } from "../../src/dispatch/watch.js";
import { AlertSink } from "../../src/policy/alerts.js";
import { ENGINES, useTestStore } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";
import { seed } from "../helpers/seed.js";

describe.each(ENGINES)("queue health alerts (%s)", (engine) => {
  const store = useTestStore(engine);
  const s = { ...DEFAULT_WATCH, maxQueueAgeMs: 60_000, maxDeadLetters: 2 };

  it("raises once when the oldest due message waits too long, and resolves when it is gone", async () => {
    const alerts = new AlertSink(silentLog);
    const [old] = await seed(store.db, 3);
    await store.db.query(
      "update smsq.messages set run_at = now() - interval '2 minutes' where id = $1",
      [old],
    );
    const m = await watchQueue(store.db, alerts, s);
    expect(m.oldestDueMs).toBeGreaterThan(119_000);
    await watchQueue(store.db, alerts, s);
    expect(alerts.sent.map((a) => [a.key, a.state])).toEqual([["queue-age", "raised"]]);
    await store.db.query("update smsq.messages set status = 'sent' where id = $1", [old]);
    await watchQueue(store.db, alerts, s);
    expect(alerts.sent.map((a) => [a.key, a.state])).toEqual([
      ["queue-age", "raised"],
      ["queue-age", "resolved"],
    ]);
  });

  it("raises when more messages than the limit failed recently, not for old failures", async () => {
    const alerts = new AlertSink(silentLog);
    const ids = await seed(store.db, 4);
    await store.db.query(
      "update smsq.messages set status = 'failed', completed_at = now() - interval '1 hour'",
    );
    expect((await watchQueue(store.db, alerts, s)).deadLetters).toBe(0);
    expect(alerts.active()).toEqual([]);
    await store.db.query(
      "update smsq.messages set completed_at = now() where id = any($1::text[])",
      [ids.slice(0, 3)],
    );
    expect((await watchQueue(store.db, alerts, s)).deadLetters).toBe(3);
    expect(alerts.active().map((a) => a.key)).toEqual(["dead-letters"]);
  });
});
