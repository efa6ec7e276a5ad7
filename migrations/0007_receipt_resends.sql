-- 0007: re-sending after a transient carrier outcome (Twilio 30003 unreachable handset, 30008
-- unknown), when an account asks for it: the resends a message has had (their own small budget),
-- and an index on recent undelivered messages by account for the step that finds them.
alter table smsq.messages add column receipt_resends integer not null default 0;
create index messages_undelivered_idx on smsq.messages (account, completed_at)
  where status = 'undelivered';
