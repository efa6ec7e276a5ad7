/**
 * The state the provider handlers share: current behaviour, limiters, log and the event
 * machinery. One per simulator; index.ts builds it and the handlers only read it through here.
 */
import type { CompiledRules } from "./behaviour.js";
import type { EventScheduler, RetryPolicy, WebhookPoster } from "./callbacks.js";
import type { ConcurrencyLimiter, RollingWindow, SenderLimiter } from "./limits.js";
import type { SimLog } from "./log.js";
import type { SimBehaviour } from "./types.js";

export interface SimContext {
  behaviour: SimBehaviour;
  rules: CompiledRules;
  random: () => number;
  now: () => number;
  log: SimLog;
  events: EventScheduler;
  poster: WebhookPoster;
  senders: SenderLimiter;
  concurrency: ConcurrencyLimiter;
  dialpadWindow: RollingWindow;
}

/** The callback retry policy of the current behaviour. */
export function retryPolicy(b: SimBehaviour): RetryPolicy {
  return {
    retries: b.callbackRetries,
    delayMs: b.callbackRetryDelayMs,
    timeoutMs: b.callbackTimeoutMs,
  };
}

/** True with probability `rate`; draws no random number when the rate is 0. */
export function chance(ctx: SimContext, rate: number): boolean {
  return rate > 0 && ctx.random() < rate;
}

/**
 * The order and copies of a message's status events: `intermediate` (if sentCallback) then
 * `final`, reversed at `outOfOrderRate`, each event repeated at `duplicateCallbackRate`.
 */
export function eventOrder<S>(
  ctx: SimContext,
  intermediate: S,
  final: S,
): { status: S; copy: boolean }[] {
  const b = ctx.behaviour;
  const statuses = b.sentCallback ? [intermediate, final] : [final];
  if (statuses.length === 2 && chance(ctx, b.outOfOrderRate)) statuses.reverse();
  const out: { status: S; copy: boolean }[] = [];
  for (const status of statuses) {
    out.push({ status, copy: false });
    if (chance(ctx, b.duplicateCallbackRate)) out.push({ status, copy: true });
  }
  return out;
}
