-- 0003: delivery policy. What a message's attempt budget has spent, whether its last attempt
-- is in doubt, reconciled attempts, and per-account state (circuit breaker and cooldown)
-- shared by every worker.

alter table smsq.messages
  -- Attempts made before the last operator requeue: a requeued message gets a fresh budget.
  add column budget_base integer not null default 0,
  -- Attempts that did not spend the budget: rate limits and account failures are not the
  -- message's fault.
  add column free_attempts integer not null default 0,
  -- The last attempt may have reached the provider (timeout, 5xx, dead worker): reconcile
  -- with the provider before any resend.
  add column in_doubt boolean not null default false;

alter table smsq.attempts drop constraint attempts_outcome_check;
alter table smsq.attempts add constraint attempts_outcome_check
  check (outcome in ('accepted', 'failed', 'abandoned', 'reconciled'));

-- One row per provider account, created on first use.
create table smsq.account_state (
  account         text primary key,
  circuit         text not null default 'closed'
                    check (circuit in ('closed', 'open', 'half_open')),
  circuit_reason  text,
  opened_at       timestamptz,
  -- While open: when a single probe message may test the account again.
  next_probe_at   timestamptz,
  -- How many times in a row the circuit opened (the probe delay doubles with it).
  open_count      integer not null default 0,
  -- Rate-limit cooldown: no sends through the account before this time.
  cooldown_until  timestamptz,
  cooldown_reason text,
  updated_at      timestamptz not null default now()
);
