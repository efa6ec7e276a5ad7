/** Failover by patience: when a message moves on to the next account of its route. */
import type { ClaimedMessage } from "../store/dispatch.js";
import type { AttemptResult } from "./attempt.js";

/**
 * After `patience` transient or rate-limited failures on one account (or one account failure),
 * the message's next attempt goes to the next account of the route (`accounts`, in order).
 * Sets the outcome's `routeStep` and `stepFailures`; leaves other outcomes alone.
 */
export function advance(
  accounts: readonly string[],
  m: Pick<ClaimedMessage, "account" | "step_failures">,
  r: AttemptResult,
  patience: number,
): void {
  if (accounts.length < 2 || r.outcome.status !== "queued") return;
  const c = r.errorClass;
  if (c !== "transient" && c !== "rate_limited" && c !== "account") return;
  const position = Math.max(0, accounts.indexOf(m.account ?? ""));
  const failures = m.step_failures + 1;
  if ((failures >= patience || c === "account") && position + 1 < accounts.length) {
    r.outcome.routeStep = position + 1;
    r.outcome.stepFailures = 0;
  } else {
    r.outcome.stepFailures = failures;
  }
}
