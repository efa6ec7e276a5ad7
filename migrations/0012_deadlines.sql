-- 0012: deadlines. When a message is submitted under a rate limit, smsq estimates when it will
-- be sent (the backlog ahead of it at the current working rate) and keeps the estimate; a
-- message whose validUntil that estimate already misses is refused, unless the caller asked to
-- accept it anyway, in which case it is flagged.
alter table smsq.messages
  add column estimated_send_at timestamptz,
  add column deadline_at_risk boolean not null default false;
