-- 0006: attempts and segments sent per account per (UTC) day, for the cost guard: an optional
-- daily segment budget per account beyond which its messages wait for the next day.
alter table smsq.account_state
  add column day date,
  add column day_attempts integer not null default 0,
  add column day_segments integer not null default 0;
