/**
 * What the dispatcher does after recording a batch, besides the record: the cost guard's
 * counters, suppressions, cooldowns, the circuit, and the limiter's success credits. An outage
 * here only logs: the policy repeats these on the next failure.
 */
import type { Logger } from "../log.js";
import { countUsage } from "../store/accounts.js";
import { isUnavailableError, type Db } from "../store/db.js";
import type { ClaimedMessage } from "../store/dispatch.js";
import { addSuppression } from "../store/suppressions.js";
import type { AttemptResult } from "./attempt.js";
import type { Breaker } from "./breaker.js";
import type { Limiter } from "./limiter.js";

export interface EffectsDeps {
  db: Db;
  log: Logger;
  limiter: Limiter | null;
  breaker: (account: string) => Breaker;
  now: () => Date;
}

/** Applies a batch's effects; `probe` names the account a half-open probe batch tested. */
export async function applyEffects(
  d: EffectsDeps,
  results: readonly { r: AttemptResult; m: ClaimedMessage; account: string; segments: number }[],
  probe: string | null,
): Promise<void> {
  try {
    d.limiter?.credit(results);
    // The cost guard's counters: calls made and segments accepted, per account, today.
    const usage = new Map<string, { account: string; attempts: number; segments: number }>();
    for (const { r, account, segments } of results) {
      const a = r.outcome.attempt?.outcome;
      if (a !== "accepted" && a !== "failed") continue;
      const u = usage.get(account) ?? { account, attempts: 0, segments: 0 };
      u.attempts += 1;
      if (a === "accepted") u.segments += segments;
      usage.set(account, u);
    }
    await countUsage(d.db, [...usage.values()]);
    for (const { r, account } of results) {
      const e = r.effects;
      const b = d.breaker(account);
      if (e.suppress) await suppress(d, e.suppress.phone, e.suppress.reason);
      // A limited account's bucket pauses itself (AIMD); only others pause the whole account.
      if (e.coolDownUntil && !d.limiter?.handles(account)) {
        await b.coolDown(e.coolDownUntil, r.outcome.error?.code ?? "rate limited");
      }
      if (r.errorClass === "rate_limited" && r.outcome.error?.code === "403") {
        await b.forbiddenRateLimit(d.now().getTime());
      }
      if (e.accountFailure) await b.open(e.accountFailure);
      else if (probe === null) await b.observe(e.healthy);
    }
    if (probe !== null) {
      const r = results[0]?.r;
      await d
        .breaker(probe)
        .probeResult(r?.effects.healthy ?? null, r?.outcome.error?.message ?? "");
    }
  } catch (e) {
    if (!isUnavailableError(e)) d.log.error({ err: e }, "applying policy effects failed");
  }
}

/** Adds a number to the suppression list; an outage only logs (the provider keeps refusing). */
async function suppress(d: EffectsDeps, phone: string, reason: string): Promise<void> {
  try {
    await addSuppression(d.db, phone, reason, "provider");
  } catch (e) {
    d.log.warn({ err: (e as Error).message }, "could not record a suppression");
  }
}
