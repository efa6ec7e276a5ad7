/**
 * Recording a batch's outcomes, retrying through a store outage: a provider call that was made
 * is never forgotten. Receipts that overtook the record are applied right after it.
 */
import type { Logger } from "../log.js";
import { fullJitter } from "../policy/backoff.js";
import { isUnavailableError, type Db } from "../store/db.js";
import { recordOutcomes, type Outcome } from "../store/dispatch.js";
import { alreadyRecorded } from "../store/lost-answers.js";
import { applyHeldReceipts } from "../store/receipts.js";

export interface RecordDeps {
  db: Db;
  log: Logger;
  workerId: string;
  /** Provider kinds of the route, whose held receipts may match. */
  providers: readonly string[];
  random: () => number;
  /** False once the dispatcher stops: then a dead store is given up on after a bounded time. */
  running: () => boolean;
  stats: { leaseLost: number; storeErrors: number; heldReceiptsApplied: number };
}

/** Records outcomes; retries while the store is unreachable. */
export async function recordWithRetry(d: RecordDeps, outcomes: Outcome[]): Promise<void> {
  for (let n = 1; ; n++) {
    try {
      // A failed try may have committed with its answer lost: then it is done, and a repeat
      // would write its attempt rows twice.
      const done = n > 1 ? await alreadyRecorded(d.db, d.workerId, outcomes) : false;
      if (done === true) {
        await applyHeld(d, outcomes);
        return;
      }
      const lost = await recordOutcomes(d.db, d.workerId, outcomes);
      await applyHeld(d, outcomes);
      // Without a call to look for, a repeat of a committed try finds its leases gone.
      if (lost.length > 0 && done === undefined) return;
      if (lost.length > 0) {
        d.stats.leaseLost += lost.length;
        d.log.warn(
          { messages: lost },
          "lease lost before recording; outcome kept in attempts only",
        );
      }
      return;
    } catch (e) {
      d.stats.storeErrors += 1;
      if (!isUnavailableError(e)) d.log.error({ err: e }, "recording outcomes failed");
      // Keep trying while running; after stop, give up after a bounded number of tries so a
      // dead store cannot hang shutdown forever (the lease then returns the messages).
      if (!d.running() && n >= 20) {
        d.log.error({ messages: outcomes.map((o) => o.messageId) }, "gave up recording outcomes");
        return;
      }
      await new Promise((r) =>
        setTimeout(r, fullJitter(n, { baseMs: 200, capMs: 5000 }, d.random) + 50),
      );
    }
  }
}

/** Applies receipts that overtook this record. Best effort: housekeeping catches the rest. */
async function applyHeld(d: RecordDeps, outcomes: Outcome[]): Promise<void> {
  const ids = outcomes.flatMap((o) => (o.providerMessageId ? [o.providerMessageId] : []));
  try {
    for (const kind of d.providers) {
      d.stats.heldReceiptsApplied += await applyHeldReceipts(d.db, kind, ids);
    }
  } catch (e) {
    if (!isUnavailableError(e)) d.log.error({ err: e }, "applying held receipts failed");
  }
}
