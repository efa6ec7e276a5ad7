/**
 * The message lifecycle, in one place. Every status change smsq makes, from the API, the
 * dispatcher or a receipt, is checked against this table: SQL updates take their allowed
 * "from" statuses from `fromStates()`, so a late or duplicate event can never move a
 * message backwards (a `sent` receipt after `delivered` changes nothing).
 *
 *   scheduled ─▶ queued ─▶ sending ─▶ sent ─▶ delivered | undelivered | failed
 *        │          ▲  │       │  │
 *        │          └──┼───────┘  └─▶ failed | suppressed   (retry puts it back in queued)
 *        └──────────▶ expired | canceled | suppressed
 */
export const STATUSES = [
  "scheduled",
  "queued",
  "sending",
  "sent",
  "delivered",
  "undelivered",
  "failed",
  "expired",
  "canceled",
  "suppressed",
] as const;

export type MessageStatus = (typeof STATUSES)[number];

/** Statuses a message never leaves by itself (only an explicit requeue can restart it). */
export const TERMINAL_STATUSES: readonly MessageStatus[] = [
  "delivered",
  "undelivered",
  "failed",
  "expired",
  "canceled",
  "suppressed",
];

/** Statuses that are still waiting to be sent. */
export const PENDING_STATUSES: readonly MessageStatus[] = ["scheduled", "queued"];

// For each status, where it may go next. Only these moves happen; anything else is refused.
const NEXT: Record<MessageStatus, readonly MessageStatus[]> = {
  scheduled: ["queued", "canceled", "expired", "suppressed"],
  queued: ["sending", "canceled", "expired", "suppressed", "failed"],
  // sending → queued: a retry after a failed attempt, or a lease that ran out.
  // sending → delivered/undelivered: a provider that reports the final outcome synchronously.
  sending: ["sent", "queued", "failed", "expired", "suppressed", "delivered", "undelivered"],
  sent: ["delivered", "undelivered", "failed"],
  delivered: [],
  undelivered: [],
  failed: [],
  expired: [],
  canceled: [],
  suppressed: [],
};

// Statuses an explicit operator requeue may restart (dead letters). Kept apart from NEXT
// because no receipt or attempt may do this. The one automatic restart is an account's
// resend policy (off by default), which requeues `undelivered` for a transient carrier outcome.
const REQUEUEABLE: readonly MessageStatus[] = ["failed", "expired", "undelivered"];

/** True when a message in `from` may move to `to`. */
export function canTransition(from: MessageStatus, to: MessageStatus): boolean {
  return NEXT[from].includes(to);
}

/**
 * True when a provider's delivery receipt reporting `to` may move a message in `from`. Only a
 * `sent` message moves, and only to a final status: `sent` is the one status in which the
 * provider id on the message is its current send's. While a message is `queued` or `sending`
 * again (a retry, a resend, an operator requeue) the id recorded, if any, is an earlier send's,
 * and that send's late receipts must not decide the new one (they are recorded, nothing more).
 * A receipt for the current send that overtakes its record is held until the record is made.
 */
export function receiptCanMove(from: MessageStatus, to: MessageStatus): boolean {
  return from === "sent" && to !== "sent" && canTransition(from, to);
}

/** The statuses from which a message may move to `to`: the guard for SQL updates. */
export function fromStates(to: MessageStatus): MessageStatus[] {
  return STATUSES.filter((s) => NEXT[s].includes(to));
}

/** Statuses an operator may put back in the queue. */
export function requeueableStates(): MessageStatus[] {
  return [...REQUEUEABLE];
}

/** True when the status is final. */
export function isTerminal(status: MessageStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** True when `s` names a status. */
export function isStatus(s: string): s is MessageStatus {
  return (STATUSES as readonly string[]).includes(s);
}
