-- 0004: the dead-letter alert counts messages that ended `failed` recently; a partial index on
-- their completion time keeps that count cheap however many failed messages history holds.
create index messages_failed_completed_idx on smsq.messages (completed_at)
  where status = 'failed';
