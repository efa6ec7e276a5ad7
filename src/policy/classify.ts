/**
 * The error taxonomy: every failed attempt or negative receipt gets exactly one of six classes,
 * and the rule that decided it. The knowledge lives in data (./tables/*.ts, one table per
 * provider plus generic HTTP statuses and network errors, each row citing the fact sheet); this
 * file only fixes the order in which the tables are asked. docs/errors.md renders it all.
 *
 * Order: config override for (provider, code) → the provider's table → at send, the adapter's
 * `ambiguous` flag → generic HTTP status → network error → default (`transient`).
 */
import { DIALPAD_CODES } from "./tables/dialpad.js";
import { HTTP_STATUSES } from "./tables/http.js";
import { NETWORK_ERRORS } from "./tables/network.js";
import { TWILIO_CODES } from "./tables/twilio.js";
import { ERROR_CLASSES, type CodeRow, type ErrorClass, type Stage } from "./tables/types.js";

export { ERROR_CLASSES, type CodeRow, type ErrorClass, type Stage } from "./tables/types.js";
export { DIALPAD_CODES, HTTP_STATUSES, NETWORK_ERRORS, TWILIO_CODES };

/** True when `s` names one of the six classes (config values are checked with it). */
export function isErrorClass(s: string): s is ErrorClass {
  return typeof s === "string" && (ERROR_CLASSES as readonly string[]).includes(s);
}

/** A failure to classify: a failed provider call ("send") or a negative receipt ("receipt"). */
export interface Failure {
  /** "twilio" | "dialpad" | "sandbox" | other */
  provider: string;
  stage: Stage;
  /** Send stage only. */
  httpStatus: number | null;
  /**
   * The provider's code (Twilio "21211", Dialpad delivery result "no_route" or HTTP status
   * "403"), or a network/adapter code ("ECONNRESET", "timeout", "expired", "no_sender", …).
   */
  code: string | null;
  /** The adapter's own judgement that the request may have been processed. */
  ambiguous?: boolean;
}

export interface Classification {
  class: ErrorClass;
  /** The recipient opted out: add them to the suppression list (Twilio 21610, 30004). */
  optOut: boolean;
  /** Which rule decided, for "show why": "twilio:21211", "http:503", "override:twilio:30007", "default:send". */
  rule: string;
}

/** Per-provider code overrides from config: { twilio: { "30007": "transient" } }. */
export type ClassOverrides = Readonly<Record<string, Readonly<Record<string, ErrorClass>>>>;

/** Rows by code; a code may have one row per stage. Maps, so "__proto__" is just a string. */
type Index = ReadonlyMap<string, readonly CodeRow[]>;

function indexRows(rows: readonly CodeRow[]): Index {
  const m = new Map<string, CodeRow[]>();
  for (const r of rows) {
    const list = m.get(r.code);
    if (list) list.push(r);
    else m.set(r.code, [r]);
  }
  return m;
}

function find(index: Index | undefined, key: string | null, stage: Stage): CodeRow | undefined {
  if (index === undefined || key === null) return undefined;
  return index.get(key)?.find((r) => r.stages === undefined || r.stages.includes(stage));
}

/** Each provider its own table: the same number means different things at different providers. */
const PROVIDERS: ReadonlyMap<string, Index> = new Map([
  ["twilio", indexRows(TWILIO_CODES)],
  ["dialpad", indexRows(DIALPAD_CODES)],
]);
const HTTP = indexRows(HTTP_STATUSES);
const NETWORK = indexRows(NETWORK_ERRORS);

/** Classifies one failure; total: any input gets one of the six classes, nothing throws. */
export function classify(f: Failure, overrides?: ClassOverrides): Classification {
  // Defensive reads: failures are built from provider answers and receipts stored as JSON.
  const provider = typeof f.provider === "string" ? f.provider : "";
  const stage: Stage = f.stage === "receipt" ? "receipt" : "send";
  const hs: unknown = f.httpStatus;
  const status =
    typeof hs === "number" && Number.isInteger(hs) && hs >= 100 && hs <= 599 ? hs : null;
  const code = typeof f.code === "string" && f.code.trim() !== "" ? f.code.trim() : null;
  // The adapters' convention: with no code of the provider's own, the HTTP status is the code.
  const key = code ?? (status === null ? null : String(status));
  const row = find(PROVIDERS.get(provider), key, stage);

  const forced = key === null ? undefined : overrideFor(overrides, provider, key);
  if (forced !== undefined) {
    return decide(forced, row?.optOut === true, `override:${provider}:${key}`, stage);
  }
  if (row) return decide(row.class, row.optOut === true, `${provider}:${row.code}`, stage);

  if (stage === "send") {
    // The adapter saw how far the request got; only the provider's own table knows better
    // (Twilio 429/20429 is never processed, whatever the transport looked like).
    if (f.ambiguous === true) return decide("ambiguous", false, "adapter:ambiguous", stage);
    const http =
      status === null
        ? undefined
        : (find(HTTP, String(status), stage) ?? find(HTTP, `${Math.floor(status / 100)}xx`, stage));
    if (http) return generic(http, `http:${http.code}`, f.ambiguous);
    const net = find(NETWORK, code, stage);
    if (net) return generic(net, `network:${net.code}`, f.ambiguous);
  }
  // Unknown: retry within the attempt budget. It never loses a message that could still go,
  // never retries forever, and at receipt only matters where receipt resends are enabled.
  return decide("transient", false, `default:${stage}`, stage);
}

/** One line: what smsq does for a failure of this class. */
export function describeClass(c: ErrorClass): string {
  return DESCRIPTIONS[c];
}

const DESCRIPTIONS: Readonly<Record<ErrorClass, string>> = {
  rate_limited:
    "The provider pushed back: cool the account down and retry later; the attempt does not spend the message's budget.",
  transient: "A temporary failure: retry with backoff within the attempt budget and validity.",
  ambiguous:
    "The provider may have the message (timeout or 5xx after sending): mark it in doubt and reconcile before any resend.",
  recipient_permanent:
    "Permanent for this recipient: fail the message without retrying; an opt-out also suppresses the number.",
  content_permanent:
    "The body was rejected or filtered: fail the message; resending the same body cannot succeed.",
  account:
    "The account cannot send (credentials, suspension, sender, permissions): open its circuit and alert; the message is not at fault.",
};

/** A generic row that says "may have been processed" yields to an adapter that knows it was not. */
function generic(row: CodeRow, rule: string, ambiguous: boolean | undefined): Classification {
  if (row.class === "ambiguous" && ambiguous === false) {
    return { class: "transient", optOut: false, rule: `${rule}:not_ambiguous` };
  }
  return { class: row.class, optOut: false, rule };
}

function decide(c: ErrorClass, optOut: boolean, rule: string, stage: Stage): Classification {
  // A receipt proves the provider had the message: nothing is in doubt after one (this only
  // matters for an override, as no table row is ambiguous at receipt).
  const cls = stage === "receipt" && c === "ambiguous" ? "transient" : c;
  // An opt-out is a fact about the code, but only suppresses when the message is not retried.
  return { class: cls, optOut: optOut && cls === "recipient_permanent", rule };
}

/** The override for (provider, key); values that are not a class (bad config) are ignored. */
function overrideFor(
  overrides: ClassOverrides | undefined,
  provider: string,
  key: string,
): ErrorClass | undefined {
  if (typeof overrides !== "object" || overrides === null) return undefined;
  const forProvider = Object.hasOwn(overrides, provider) ? overrides[provider] : undefined;
  if (typeof forProvider !== "object" || forProvider === null) return undefined;
  const c: unknown = Object.hasOwn(forProvider, key) ? forProvider[key] : undefined;
  return typeof c === "string" && isErrorClass(c) ? c : undefined;
}
