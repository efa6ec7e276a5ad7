/**
 * The work that moves messages along between claims, run by every dispatcher about once a
 * second (each step is SKIP LOCKED or idempotent, so several workers doing it do no harm):
 * promote due scheduled messages, expire overdue ones, take back dead workers' leases, apply
 * held receipts whose provider id is now known, re-send per the accounts' policies, drop held
 * receipts that never matched.
 */
import { expireOverdue, promoteScheduled, reapExpiredLeases } from "../store/dispatch.js";
import type { Db } from "../store/db.js";
import { applyRecordedHeldReceipts, sweepHeldReceipts } from "../store/receipts.js";
import { resendUndelivered, type ResendPolicy } from "../store/resend.js";

export interface HousekeepingOptions {
  maxAttempts: number;
  receiptHoldMs: number;
  /** Resend policy per account name (null or absent: off). */
  resend: ReadonlyMap<string, ResendPolicy | null>;
}

export interface HousekeepingResult {
  promoted: number;
  expired: number;
  reaped: number;
  heldReceiptsApplied: number;
  resends: number;
  unknownReceipts: number;
}

/** Runs one round of housekeeping; returns what it did. */
export async function housekeep(db: Db, o: HousekeepingOptions): Promise<HousekeepingResult> {
  const promoted = await promoteScheduled(db, 1000);
  const expired = await expireOverdue(db, 1000);
  const reaped = await reapExpiredLeases(db, 1000, o.maxAttempts);
  const heldReceiptsApplied = await applyRecordedHeldReceipts(db, 500);
  let resends = 0;
  for (const [account, policy] of o.resend) {
    if (policy) resends += await resendUndelivered(db, account, policy);
  }
  const unknownReceipts = await sweepHeldReceipts(db, o.receiptHoldMs);
  return { promoted, expired, reaped, heldReceiptsApplied, resends, unknownReceipts };
}
