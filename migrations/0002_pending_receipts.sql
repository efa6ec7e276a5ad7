-- 0002: receipts that arrived before smsq recorded their provider id.
-- A status callback can overtake the provider's API response (the provider calls back while
-- smsq is still writing the attempt). Such a receipt is kept here and applied as soon as the
-- dispatcher records that provider id; one whose id never becomes known is swept after a while
-- and counted, never treated as an error.

create table smsq.pending_receipts (
  dedupe_key          text primary key,
  provider            text not null,
  provider_message_id text not null,
  receipt             jsonb not null,
  received_at         timestamptz not null default now()
);
create index pending_receipts_provider_id_idx
  on smsq.pending_receipts (provider, provider_message_id);
create index pending_receipts_received_idx on smsq.pending_receipts (received_at);
