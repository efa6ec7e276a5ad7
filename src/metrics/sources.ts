/** What metrics reads from the parts that keep counters of their own. */

/** What the dispatcher's counters look like to metrics (Dispatcher.stats, Dispatcher.inFlight). */
export interface DispatcherSource {
  readonly stats: {
    claimed: number;
    leaseLost: number;
    storeErrors: number;
    lateReleased: number;
    orphansReleased: number;
    unknownReceipts: number;
    heldReceiptsApplied: number;
  };
  readonly inFlight: number;
}

export interface ReceiptCounts {
  applied: number;
  duplicates: number;
  ignored: number;
  held: number;
}

export interface WebhookSource {
  accepted: number;
  rejected: Record<string, number>;
  receipts: ReceiptCounts & { byStatus?: Record<string, Record<string, number>> };
}

export interface RetentionSource {
  runs: number;
  totals: { bodies: number; attempts: number; events: number; messages: number };
}
