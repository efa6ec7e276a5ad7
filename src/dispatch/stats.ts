/** The dispatcher's counters: for tests, the status line and metrics. */
import type { AttemptResult } from "./attempt.js";

export interface DispatcherStats {
  /** Claim rounds run (each after housekeeping). */
  rounds: number;
  claimed: number;
  accepted: number;
  failed: number;
  retried: number;
  suppressed: number;
  leaseLost: number;
  storeErrors: number;
  reconciled: number;
  /** Undelivered messages requeued by an account's resend policy. */
  resends: number;
  /** Failed attempts by error class. */
  byClass: Record<string, number>;
  /** Held receipts applied once their provider id was recorded. */
  heldReceiptsApplied: number;
  /** Held receipts dropped because their provider id never became known. */
  unknownReceipts: number;
  /** Messages put back unsent because the worker missed their rate-limit slot. */
  lateReleased: number;
  /** Messages given back after a claim committed but its answer was lost (store outage). */
  orphansReleased: number;
}

/** Zeroed counters. */
export function newStats(): DispatcherStats {
  return {
    rounds: 0,
    claimed: 0,
    accepted: 0,
    failed: 0,
    retried: 0,
    suppressed: 0,
    leaseLost: 0,
    storeErrors: 0,
    reconciled: 0,
    resends: 0,
    byClass: {},
    heldReceiptsApplied: 0,
    unknownReceipts: 0,
    lateReleased: 0,
    orphansReleased: 0,
  };
}

/** Counts a batch's results. */
export function countResults(stats: DispatcherStats, results: readonly AttemptResult[]): void {
  for (const r of results) {
    const o = r.outcome;
    if (o.attempt?.outcome === "accepted") stats.accepted += 1;
    if (o.attempt?.outcome === "reconciled") stats.reconciled += 1;
    if (o.status === "suppressed") stats.suppressed += 1;
    if (o.status === "queued") stats.retried += 1;
    if (o.status === "failed" || o.status === "expired") stats.failed += 1;
    if (r.errorClass) {
      stats.byClass[r.errorClass] = (stats.byClass[r.errorClass] ?? 0) + 1;
    }
  }
}
