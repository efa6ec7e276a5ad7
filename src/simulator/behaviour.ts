/**
 * Behaviour defaults, validation of partial updates (from code or `POST /_sim/behaviour`), and
 * the rules compiled once so the hot path only runs the regexes.
 */
import type { SimBehaviour, SimRule } from "./types.js";

/** The behaviour of a simulator nobody configured: a well-behaved provider. */
export const DEFAULT_BEHAVIOUR: Readonly<SimBehaviour> = Object.freeze({
  senderSegmentsPerSecond: null,
  senderLimitMode: "reject",
  senderQueueSeconds: 36_000,
  accountConcurrency: null,
  dialpadRatePerMinute: null,
  dialpadWindowMs: 60_000,
  dialpadLimitStatus: 403,
  latencyMs: 0,
  callbackDelayMs: 20,
  sentCallback: true,
  callbackRetries: 2,
  callbackRetryDelayMs: 250,
  callbackTimeoutMs: 15_000,
  rate5xx: 0,
  rateTimeout: 0,
  rateDrop: 0,
  rate429: 0,
  duplicateCallbackRate: 0,
  outOfOrderRate: 0,
  rules: [],
});

/** A bad behaviour setting; the control endpoint answers 400 with its message. */
export class BehaviourError extends Error {}

type Check = (v: unknown) => boolean;

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const positiveOrNull: Check = (v) => v === null || (isNum(v) && v > 0);
const nonNegative: Check = (v) => isNum(v) && v >= 0;
const fraction: Check = (v) => isNum(v) && v >= 0 && v <= 1;

const CHECKS: Record<keyof SimBehaviour, [Check, string]> = {
  senderSegmentsPerSecond: [positiveOrNull, "a positive number or null"],
  senderLimitMode: [(v) => v === "reject" || v === "queue", '"reject" or "queue"'],
  senderQueueSeconds: [(v) => isNum(v) && v > 0, "a positive number"],
  accountConcurrency: [
    (v) => v === null || (Number.isInteger(v) && (v as number) > 0),
    "a positive integer or null",
  ],
  dialpadRatePerMinute: [
    (v) => v === null || (Number.isInteger(v) && (v as number) > 0),
    "a positive integer or null",
  ],
  dialpadWindowMs: [(v) => isNum(v) && v > 0, "a positive number"],
  dialpadLimitStatus: [(v) => v === 403 || v === 429, "403 or 429"],
  latencyMs: [nonNegative, "a number ≥ 0"],
  callbackDelayMs: [nonNegative, "a number ≥ 0"],
  sentCallback: [(v) => typeof v === "boolean", "a boolean"],
  callbackRetries: [(v) => Number.isInteger(v) && (v as number) >= 0, "an integer ≥ 0"],
  callbackRetryDelayMs: [nonNegative, "a number ≥ 0"],
  callbackTimeoutMs: [(v) => isNum(v) && v > 0, "a positive number"],
  rate5xx: [fraction, "a number in 0..1"],
  rateTimeout: [fraction, "a number in 0..1"],
  rateDrop: [fraction, "a number in 0..1"],
  rate429: [fraction, "a number in 0..1"],
  duplicateCallbackRate: [fraction, "a number in 0..1"],
  outOfOrderRate: [fraction, "a number in 0..1"],
  rules: [(v) => Array.isArray(v), "an array of rules"],
};

function checkRule(r: unknown, i: number): SimRule {
  const where = `rules[${i}]`;
  if (typeof r !== "object" || r === null) throw new BehaviourError(`${where}: not an object`);
  const o = r as Record<string, unknown>;
  if (typeof o.toPattern !== "string") throw new BehaviourError(`${where}.toPattern: a string`);
  try {
    new RegExp(o.toPattern);
  } catch (e) {
    throw new BehaviourError(`${where}.toPattern: ${(e as Error).message}`);
  }
  if (o.at !== "create" && o.at !== "delivery") {
    throw new BehaviourError(`${where}.at: "create" or "delivery"`);
  }
  if (!isNum(o.code) && (typeof o.code !== "string" || o.code === "")) {
    throw new BehaviourError(`${where}.code: a number or a non-empty string`);
  }
  const status = o.status;
  if (
    status !== undefined &&
    !(typeof status === "number" && Number.isInteger(status) && status >= 400 && status < 600)
  ) {
    throw new BehaviourError(`${where}.status: an HTTP error status (400–599)`);
  }
  const rule: SimRule = { toPattern: o.toPattern, at: o.at, code: o.code };
  if (typeof status === "number") rule.status = status;
  return rule;
}

/** Returns `base` with the valid settings of `patch` applied; throws BehaviourError on a bad one. */
export function mergeBehaviour(base: SimBehaviour, patch: unknown): SimBehaviour {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
    throw new BehaviourError("behaviour: a JSON object");
  }
  const out: SimBehaviour = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    const check = CHECKS[k as keyof SimBehaviour] as [Check, string] | undefined;
    if (!check) throw new BehaviourError(`${k}: unknown setting`);
    if (!check[0](v)) throw new BehaviourError(`${k}: must be ${check[1]}`);
    (out as unknown as Record<string, unknown>)[k] = v;
  }
  out.rules = (out.rules as unknown[]).map(checkRule);
  return out;
}

export interface CompiledRule {
  re: RegExp;
  rule: SimRule;
}

/** Rules split by stage, regexes compiled once per configure(). */
export interface CompiledRules {
  create: CompiledRule[];
  delivery: CompiledRule[];
}

/** Compiles the rules of a behaviour. */
export function compileRules(rules: readonly SimRule[]): CompiledRules {
  const out: CompiledRules = { create: [], delivery: [] };
  for (const rule of rules) out[rule.at].push({ re: new RegExp(rule.toPattern), rule });
  return out;
}

/** The first rule whose pattern matches `to`, or null. */
export function matchRule(rules: readonly CompiledRule[], to: string): SimRule | null {
  for (const r of rules) if (r.re.test(to)) return r.rule;
  return null;
}

/** The faults drawn for one create request; at most one of them applies. */
export interface Faults {
  tooMany: boolean;
  drop: "before" | "after" | null;
  serverError: "before" | "after" | null;
  timeout: boolean;
}

const NO_FAULTS: Faults = Object.freeze({
  tooMany: false,
  drop: null,
  serverError: null,
  timeout: false,
});

/**
 * Draws each fault independently. A rate of 0 draws nothing, so a simulator with no faults
 * configured consumes no random numbers (deterministic tests stay deterministic).
 */
export function drawFaults(b: SimBehaviour, random: () => number): Faults {
  if (b.rate429 === 0 && b.rateDrop === 0 && b.rate5xx === 0 && b.rateTimeout === 0) {
    return NO_FAULTS;
  }
  const hit = (rate: number) => rate > 0 && random() < rate;
  const half = (): "before" | "after" => (random() < 0.5 ? "before" : "after");
  const tooMany = hit(b.rate429);
  const drop = hit(b.rateDrop) ? half() : null;
  const serverError = hit(b.rate5xx) ? half() : null;
  const timeout = hit(b.rateTimeout);
  return { tooMany, drop, serverError, timeout };
}
