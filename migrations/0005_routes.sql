-- 0005: failover routes. A message goes through the accounts of its route in order: route_step
-- is the route position it has reached (it moves on after `step_failures` transient or
-- rate-limited failures on one account, or when an account's circuit is open).
alter table smsq.messages
  add column route_step integer not null default 0,
  add column step_failures integer not null default 0;
