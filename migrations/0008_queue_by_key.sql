-- 0008: backpressure counts the messages waiting per API key; a partial index keeps that count
-- to the waiting rows of that key.
create index messages_queued_key_idx on smsq.messages (api_key_id) where status = 'queued';
