-- 0011: retention (src/store/retention.ts, docs/retention.md). Old message bodies are
-- redacted and old attempts and events deleted, in small batches, by one worker at a time. Every
-- batch finds its rows through an index that holds only rows still to be processed or bounded
-- by time, so a run never reads the history it has already cleaned.

-- When retention replaced the body with '' (segments and encoding are kept).
alter table smsq.messages add column body_redacted_at timestamptz;

-- Bodies still to redact, by when the message was done with them: its final status, or, for a
-- message still `sent` (no receipt came), when the provider accepted it. A row leaves the index
-- when it is redacted, so the redaction never rescans what it redacted before.
create index messages_redact_idx on smsq.messages ((coalesce(completed_at, sent_at, created_at)))
  where body_redacted_at is null
    and status in ('sent', 'delivered', 'undelivered', 'failed', 'expired', 'canceled',
                   'suppressed');

-- Events by time (attempts already have attempts_finished_idx from 0010).
create index message_events_at_idx on smsq.message_events (at);

-- Idempotency keys go with their message when retention deletes old final messages.
create index idempotency_keys_message_idx on smsq.idempotency_keys (message_id);

-- Periodic maintenance shared by every worker: one row per task. `lease_until` lets one worker
-- at a time run it (a worker that dies mid-run frees it when the lease ends); `last_run_at`
-- spaces runs out across all workers.
create table smsq.maintenance (
  task        text primary key,
  owner       text,
  lease_until timestamptz,
  last_run_at timestamptz,
  last_result jsonb
);
