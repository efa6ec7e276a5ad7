-- 0010: indexes for GET /v1/stats. Every stats query that reads history is bounded by time:
-- attempts by when they finished, messages by when they reached a final status. Attempts are
-- only inserted, so their indexes cost one entry per provider call (the retry index only for
-- retries); the messages index is partial, so only the final version of a message enters it,
-- not every status change.
create index attempts_finished_idx on smsq.attempts (finished_at);
create index attempts_retry_idx on smsq.attempts (finished_at) where attempt > 1;
create index messages_completed_idx on smsq.messages (completed_at)
  where completed_at is not null;
