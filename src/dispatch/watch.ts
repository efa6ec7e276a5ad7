/**
 * Queue health alerts, checked by each dispatcher every `everyMs`: the oldest due message
 * waiting longer than `maxQueueAgeMs`, and more than `maxDeadLetters` messages ending `failed`
 * within `deadLetterWindowMs`. Raised once, resolved once (see AlertSink).
 */
import type { AlertSink } from "../policy/alerts.js";
import type { Db } from "../store/db.js";

export interface WatchSettings {
  everyMs: number;
  maxQueueAgeMs: number;
  maxDeadLetters: number;
  deadLetterWindowMs: number;
}

export const DEFAULT_WATCH: WatchSettings = {
  everyMs: 15_000,
  maxQueueAgeMs: 300_000,
  maxDeadLetters: 100,
  deadLetterWindowMs: 300_000,
};

/** Runs the checks; returns what it measured. */
export async function watchQueue(
  db: Db,
  alerts: AlertSink,
  s: WatchSettings,
): Promise<{ oldestDueMs: number; deadLetters: number }> {
  // Both counts use partial indexes (messages_due_idx, messages_failed_completed_idx).
  const rows = await db.query<{ oldest_ms: number | null; dead: number }>(
    `select (select extract(epoch from now() - min(run_at)) * 1000 from smsq.messages
             where status = 'queued' and run_at <= now()) as oldest_ms,
            (select count(*)::int from smsq.messages
             where status = 'failed' and completed_at > now() - $1 * interval '1 millisecond') as dead`,
    [s.deadLetterWindowMs],
  );
  const oldestDueMs = Number(rows[0]?.oldest_ms ?? 0);
  const deadLetters = rows[0]?.dead ?? 0;
  if (oldestDueMs > s.maxQueueAgeMs) {
    alerts.raise(
      "queue-age",
      "warning",
      `the oldest due message has waited ${Math.round(oldestDueMs / 1000)} s (limit ${s.maxQueueAgeMs / 1000} s)`,
    );
  } else {
    alerts.resolve("queue-age", "the queue is keeping up again");
  }
  if (deadLetters > s.maxDeadLetters) {
    alerts.raise(
      "dead-letters",
      "warning",
      `${deadLetters} messages failed in the last ${s.deadLetterWindowMs / 1000} s (limit ${s.maxDeadLetters})`,
    );
  } else {
    alerts.resolve("dead-letters", "failed messages are back under the limit");
  }
  return { oldestDueMs, deadLetters };
}
