/**
 * One claimed message, one step: reconcile it with the provider when its last attempt is in
 * doubt, else send it; classify a failure and let the policy decide. Returns the outcome to
 * record and the side effects the dispatcher must carry out (cooldown, circuit, suppression).
 */
import { classify, type ClassOverrides, type ErrorClass } from "../policy/classify.js";
import { decide, spendsBudget, type InDoubtPolicy, type PolicySettings } from "../policy/decide.js";
import type { OutboundMessage, Provider, SendResult } from "../providers/types.js";
import type { ClaimedMessage, Outcome } from "../store/dispatch.js";

export interface AttemptSettings {
  policy: PolicySettings;
  inDoubt: InDoubtPolicy;
  overrides?: ClassOverrides;
  sendTimeoutMs: number;
}

/** What the dispatcher does besides recording the outcome. */
export interface Effects {
  /** The account must cool down until then (a rate limit). */
  coolDownUntil?: Date;
  /** The provider's Retry-After on a rate limit, if it gave one. */
  retryAfterMs?: number;
  /** The account failed in a way that opens its circuit. */
  accountFailure?: string;
  /** The recipient opted out: add this number to the suppression list. */
  suppress?: { phone: string; reason: string };
  /** For the failure-rate window: did the account work? null = says nothing about it. */
  healthy: boolean | null;
}

export interface AttemptResult {
  outcome: Outcome;
  effects: Effects;
  errorClass: ErrorClass | null;
}

const HEALTH: Record<ErrorClass, boolean | null> = {
  rate_limited: null,
  transient: false,
  ambiguous: false,
  account: false,
  recipient_permanent: true,
  content_permanent: true,
};

/** Runs one message's step. Never throws: an adapter exception is an ambiguous failure. */
export async function attempt(
  m: ClaimedMessage,
  provider: Provider,
  s: AttemptSettings,
  now: () => Date,
  random: () => number,
): Promise<AttemptResult> {
  const base = { number: m.attempts, provider: provider.name, account: provider.account };
  if (m.suppressed) {
    return {
      outcome: {
        messageId: m.id,
        status: "suppressed",
        error: {
          code: "suppressed",
          message: "the recipient is on the suppression list",
          class: "recipient_permanent",
        },
      },
      effects: { healthy: null },
      errorClass: null,
    };
  }

  if (m.in_doubt && s.inDoubt === "fail") {
    return {
      outcome: {
        messageId: m.id,
        status: "failed",
        free: true,
        error: {
          code: "in_doubt",
          message: "the last attempt may have been sent; policy is fail",
          class: "ambiguous",
        },
      },
      effects: { healthy: null },
      errorClass: "ambiguous",
    };
  }

  if (m.in_doubt && s.inDoubt === "reconcile" && provider.lookup) {
    const startedAt = now();
    const t = deadline(s.sendTimeoutMs);
    const found = await provider
      .lookup(
        { to: m.to_number, from: m.from_number ?? m.sender, body: m.body, sentAfter: m.created_at },
        t.signal,
      )
      .catch((e: unknown) => ({ error: (e as Error).message ?? "lookup failed" }))
      .finally(t.clear);
    const finishedAt = now();
    if ("error" in found) {
      // Never resend without an answer: wait and ask again.
      const d = decide(
        {
          class: "rate_limited",
          optOut: false,
          spent: 0,
          streak: m.free_attempts + 1,
          validUntil: m.valid_until,
          now: finishedAt,
        },
        { ...s.policy, backoff: { ...s.policy.backoff, rate_limited: s.policy.backoff.ambiguous } },
        random,
      );
      const error = { code: "lookup_failed", message: found.error, class: "ambiguous" };
      const attemptRow = {
        ...base,
        outcome: "failed" as const,
        providerStatus: null,
        httpStatus: null,
        startedAt,
        finishedAt,
      };
      return d.action === "retry"
        ? {
            outcome: {
              messageId: m.id,
              status: "queued",
              runAt: d.runAt,
              free: true,
              inDoubt: true,
              error,
              attempt: attemptRow,
            },
            effects: { healthy: null },
            errorClass: "ambiguous",
          }
        : {
            outcome: {
              messageId: m.id,
              status: "failed",
              free: true,
              error: { ...error, code: "in_doubt" },
              attempt: attemptRow,
            },
            effects: { healthy: null },
            errorClass: "ambiguous",
          };
    }
    if (found.found) {
      return {
        outcome: {
          messageId: m.id,
          status: "sent",
          providerMessageId: found.providerMessageId,
          free: true,
          attempt: {
            ...base,
            outcome: "reconciled",
            providerStatus: found.providerStatus,
            httpStatus: null,
            startedAt,
            finishedAt,
          },
        },
        effects: { healthy: true },
        errorClass: null,
      };
    }
    // Not there: the earlier attempt never reached the provider, so sending now is safe.
  }

  const msg: OutboundMessage = {
    id: m.id,
    to: m.to_number,
    from: m.from_number ?? m.sender,
    body: m.body,
    segments: m.segments,
    attempt: m.attempts,
    validUntil: m.valid_until,
  };
  const startedAt = now();
  let result: SendResult;
  const t = deadline(s.sendTimeoutMs);
  try {
    result = await provider.send(msg, t.signal);
  } catch (e) {
    const err = e as { name?: string; message?: string };
    result = {
      ok: false,
      httpStatus: null,
      code: err.name === "TimeoutError" ? "timeout" : "exception",
      message: err.message ?? String(e),
      ambiguous: true,
      retryable: true,
    };
  } finally {
    t.clear();
  }
  const finishedAt = now();
  const attemptRow = {
    ...base,
    outcome: result.ok ? ("accepted" as const) : ("failed" as const),
    providerStatus: result.ok ? result.providerStatus : null,
    httpStatus: result.httpStatus,
    startedAt,
    finishedAt,
  };
  if (result.ok) {
    return {
      outcome: {
        messageId: m.id,
        status: "sent",
        providerMessageId: result.providerMessageId,
        inDoubt: false,
        attempt: attemptRow,
      },
      effects: { healthy: true },
      errorClass: null,
    };
  }

  if (result.code === "expired") {
    // The adapter would not send it: its validity ran out before the call.
    return {
      outcome: {
        messageId: m.id,
        status: "expired",
        free: true,
        error: { code: "expired", message: result.message, class: null },
      },
      effects: { healthy: null },
      errorClass: null,
    };
  }
  const c = classify(
    {
      provider: provider.name,
      stage: "send",
      httpStatus: result.httpStatus,
      code: result.code,
      ambiguous: result.ambiguous,
    },
    s.overrides,
  );
  const free = !spendsBudget(c.class);
  const spent = m.attempts - m.budget_base - m.free_attempts - (free ? 1 : 0);
  const d = decide(
    {
      class: c.class,
      optOut: c.optOut || result.optOut === true,
      retryAfterMs: result.retryAfterMs,
      spent,
      streak: free ? m.free_attempts + 1 : Math.max(1, spent),
      validUntil: m.valid_until,
      now: finishedAt,
    },
    s.policy,
    random,
  );
  const error = { code: result.code, message: result.message, class: c.class, rule: c.rule };
  const effects: Effects = { healthy: HEALTH[c.class] };
  if (c.class === "rate_limited" && d.action === "retry") effects.coolDownUntil = d.runAt;
  if (c.class === "rate_limited" && result.retryAfterMs !== undefined) {
    effects.retryAfterMs = result.retryAfterMs;
  }
  if (c.class === "account") {
    effects.accountFailure = `${provider.name} ${result.code ?? result.httpStatus ?? "error"}: ${result.message}`;
  }
  const o = { messageId: m.id, error, attempt: attemptRow, free };
  switch (d.action) {
    case "retry":
      return {
        outcome: { ...o, status: "queued", runAt: d.runAt, inDoubt: d.inDoubt },
        effects,
        errorClass: c.class,
      };
    case "suppress":
      effects.suppress = {
        phone: m.to_number,
        reason: `${provider.name} ${result.code ?? "opt-out"}`,
      };
      return { outcome: { ...o, status: "suppressed" }, effects, errorClass: c.class };
    case "expire":
      return { outcome: { ...o, status: "expired" }, effects, errorClass: c.class };
    case "fail":
      return {
        outcome: {
          ...o,
          status: "failed",
          error: d.reason ? { ...error, code: d.reason } : error,
          // Its last call may have reached the provider: the message says so (API `inDoubt`).
          ...(c.class === "ambiguous" ? { inDoubt: true } : {}),
        },
        effects,
        errorClass: c.class,
      };
  }
}

/**
 * An abort signal that fires with a TimeoutError after `ms`, and a way to cancel its timer.
 * Not AbortSignal.timeout: its timer lives until it fires, so at thousands of sends a second
 * tens of thousands stay armed; the profile showed it as a tenth of the adapter's CPU.
 */
function deadline(ms: number): { signal: AbortSignal; clear: () => void } {
  const ac = new AbortController();
  const timer = setTimeout(
    () => ac.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError")),
    ms,
  );
  return { signal: ac.signal, clear: () => clearTimeout(timer) };
}
