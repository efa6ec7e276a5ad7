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
  /**
   * Also scan all held receipts (default true). The scan reads every held receipt (46 ms with
   * 20,000 held foreign ids), and a dispatcher already applies the held receipts of each batch
   * it records, so the full scan is a safety net the dispatcher runs less often.
   */
  heldReceipts?: boolean;
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
  const scan = o.heldReceipts ?? true;
  const heldReceiptsApplied = scan ? await applyRecordedHeldReceipts(db, 500) : 0;
  let resends = 0;
  for (const [account, policy] of o.resend) {
    if (policy) resends += await resendUndelivered(db, account, policy);
  }
  const unknownReceipts = scan ? await sweepHeldReceipts(db, o.receiptHoldMs) : 0;
  return { promoted, expired, reaped, heldReceiptsApplied, resends, unknownReceipts };
}
