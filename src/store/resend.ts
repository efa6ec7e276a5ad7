/**
 * Re-sending undelivered messages whose carrier outcome may be temporary (an account's
 * `resendUndelivered` policy): back to `queued`, due after a long delay, with a fresh attempt
 * budget and a count of their own. Off unless an account asks for it.
 */
import type { Db } from "./db.js";

export interface ResendPolicy {
  /** Receipt error codes worth a resend (default Twilio 30003, 30008). */
  codes: readonly string[];
  /** Wait before the resend. */
  afterMs: number;
  /** Resends per message. */
  max: number;
}

export const DEFAULT_RESEND: ResendPolicy = {
  codes: ["30003", "30008"],
  afterMs: 3_600_000,
  max: 1,
};

// Only messages that ended undelivered in the last day are looked at (messages_undelivered_idx),
// and only those whose validity outlasts the delay: a resend after it would only expire.
const RESEND = `
  with c as (
    select id from smsq.messages
    where status = 'undelivered' and account = $1
      and completed_at > now() - interval '1 day'
      and last_error_code = any($2::text[])
      and receipt_resends < $3
      and body_redacted_at is null
      and (valid_until is null or valid_until > now() + $4 * interval '1 millisecond')
    limit $5
    for update skip locked
  ), upd as (
    update smsq.messages m
    set status = 'queued', run_at = now() + $4 * interval '1 millisecond',
        receipt_resends = m.receipt_resends + 1, budget_base = m.attempts, free_attempts = 0,
        completed_at = null, updated_at = now()
    from c where m.id = c.id
    returning m.id, m.last_error_code
  )
  insert into smsq.message_events (message_id, type, from_status, to_status, source, detail)
  select id, 'resend', 'undelivered', 'queued', 'dispatcher',
         jsonb_build_object('errorCode', last_error_code)
  from upd
  returning message_id`;

/** Requeues the account's undelivered messages the policy allows; returns how many. */
export async function resendUndelivered(
  db: Db,
  account: string,
  p: ResendPolicy,
  limit = 500,
): Promise<number> {
  const rows = await db.query(RESEND, [account, p.codes, p.max, p.afterMs, limit]);
  return rows.length;
}
