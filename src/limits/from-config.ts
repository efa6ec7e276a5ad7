/** The limit plan for the configured route: each account's buckets, pool and defaults. */
import type { Account, Config } from "../config/index.js";
import { buildPlan, twilioSenderDefault, type AccountLimitConfig, type LimitPlan } from "./plan.js";

/** One account's limits as the plan needs them (sandbox: none, unless a global cap applies). */
export function accountLimits(a: Account, stickyDefault: boolean): AccountLimitConfig | null {
  if (a.kind === "sandbox") return null;
  const l = a.limits;
  const own = (from: string) => l?.senderMps[from] ?? l?.mps ?? null;
  // Twilio limits every sender (by type when not configured); Dialpad counts per API key.
  const senderRate =
    a.kind === "twilio" ? (from: string) => own(from) ?? twilioSenderDefault(from) : own;
  return {
    name: a.name,
    ceiling: l?.accountMps ?? (a.kind === "dialpad" ? 100 / 60 : null),
    maxInFlight: l?.maxInFlight ?? null,
    senders: a.senders.map((from) => ({ from, ceiling: senderRate(from) })),
    senderRate,
    sticky: l?.sticky ?? stickyDefault,
    // Dialpad counts its limit per minute (fact sheet B); Twilio per second, queueing the rest.
    windowMs: a.kind === "dialpad" ? (l?.windowSeconds ?? 60) * 1000 : null,
  };
}

/** The plan for the route's accounts; null when nothing is limited (the plain claim runs). */
export function limitPlan(config: Config): LimitPlan | null {
  const accounts = config.routeAccounts.flatMap((a) => {
    const l = accountLimits(a, config.stickySenders);
    return l ? [l] : [];
  });
  const plan = buildPlan(accounts, config.globalRate);
  return plan.specs.length > 0 || plan.accounts.size > 0 ? plan : null;
}
