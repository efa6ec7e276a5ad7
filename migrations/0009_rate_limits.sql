-- 0009: token buckets shared by every worker, counted in segments. One row per bucket: the
-- optional global cap, each limited account, each sender of an account. `tat` is the bucket's
-- next free slot (generic cell rate algorithm): a message of k segments sent at t moves it to
-- t + k / rate. Claims lock these rows with SKIP LOCKED inside a short transaction, so a worker
-- never waits behind another's claim: it skips the busy bucket for one round (a bucket row
-- updated inside every claim, waiting, halved four workers' throughput here: docs/store.md).
create table smsq.rate_limits (
  key               text primary key,         -- 'global', 'account:<name>', 'sender:<name>:<from>'
  account           text,                     -- null for the global bucket
  sender            text,                     -- the from number, for sender buckets
  ceiling           double precision,         -- configured segments per second (null: no rate)
  rate              double precision,         -- working rate, learned (AIMD), <= ceiling
  max_in_flight     integer,                  -- account buckets: provider calls in flight, all workers
  tat               double precision not null default 0,  -- next free slot, ms since the epoch
  -- Sends of the last second (ms since the epoch, segments), so no rolling second carries more
  -- than the limit even when a long message opens it (spacing alone would allow k - 1 extra).
  recent_at         double precision[] not null default '{}',
  recent_segments   integer[] not null default '{}',
  cooldown_until    timestamptz,
  cooldown_count    integer not null default 0,  -- consecutive rate-limit cooldowns (doubles it)
  last_limited_rate double precision,         -- the working rate when the provider last pushed back
  last_limited_at   timestamptz,
  successes         bigint not null default 0,   -- accepted since the rate last moved
  limited_total     bigint not null default 0,
  accepted_total    bigint not null default 0,
  updated_at        timestamptz not null default now()
);

-- The pool sender a limited claim chose for a message sent without `from` (the message's own
-- from_number stays as submitted, so a failover to another account picks from that pool).
alter table smsq.messages add column sender text;
