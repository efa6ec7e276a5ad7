/**
 * Statements that committed while their answer was lost. A claim or a record is one statement
 * (or one transaction) that can commit on the server while the connection drops before its
 * answer comes back, and the worker sees an error.
 *
 * - A lost claim leaves messages `sending` under this worker's lease that it never saw, so it
 *   never called the provider. Left alone they would wait out the lease (2 min by default) and
 *   then be reaped as abandoned and in doubt. The worker knows better: it gives them back.
 * - A lost record is tried again; without a check its attempt rows would be written twice.
 */
import type { Db } from "./db.js";
import type { Outcome } from "./dispatch.js";

// The worker's own leases on messages it is not working on. Only this process claims under its
// worker id, and it runs this between its claims, so no claim of its own can be half done.
// The claim's attempt increment is undone: no provider call was made. Few rows: at most what
// the worker claimed in the round that failed (messages_leases_idx covers `sending`).
const RELEASE = `
  with orphan as (
    select id from smsq.messages
    where status = 'sending' and lease_owner = $1 and not (id = any($2::text[]))
    for update skip locked
  ), upd as (
    update smsq.messages m
    set status = 'queued', lease_owner = null, lease_expires_at = null,
        attempts = m.attempts - 1, updated_at = now()
    from orphan o
    where m.id = o.id
    returning m.id
  )
  insert into smsq.message_events (message_id, type, from_status, to_status, source, detail)
  select id, 'status', 'sending', 'queued', 'dispatcher',
         jsonb_build_object('reason', 'claim_lost', 'worker', $1::text)
  from upd
  returning message_id`;

/**
 * Puts back the messages leased to `workerId` that it does not hold (`holding`: the ids it is
 * sending or recording). Returns their ids.
 */
export async function releaseOrphans(
  db: Db,
  workerId: string,
  holding: readonly string[],
): Promise<string[]> {
  const rows = await db.query<{ message_id: string }>(RELEASE, [workerId, holding]);
  return rows.map((r) => r.message_id);
}

/**
 * Whether an earlier try of this record committed: its first provider call's attempt row is
 * there. Undefined when the record holds no call (then a repeat writes nothing twice anyway).
 */
export async function alreadyRecorded(
  db: Db,
  workerId: string,
  outcomes: readonly Outcome[],
): Promise<boolean | undefined> {
  const call = outcomes.find((o) => o.attempt !== undefined);
  if (!call?.attempt) return undefined;
  const rows = await db.query<{ found: boolean }>(
    `select exists (
       select 1 from smsq.attempts
       where message_id = $1 and attempt = $2 and worker_id = $3 and started_at = $4
     ) as found`,
    [call.messageId, call.attempt.number, workerId, call.attempt.startedAt.toISOString()],
  );
  return rows[0]?.found === true;
}
