/**
 * Generic HTTP statuses → error class, for a failed send that no provider row explained: a
 * status the provider gave without a code of its own, or a provider with no table. Send stage
 * only (receipts carry no HTTP status). `5xx` catches the 5xx statuses not listed one by one.
 * Provider tables come first: Dialpad's 403 is a rate limit, not a permission problem.
 */
import type { CodeRow } from "./types.js";

/** A create that may have reached the provider's application: the message may exist. */
const MAY_EXIST =
  "create may have been processed and is not idempotent: reconcile before resending";

export const HTTP_STATUSES: readonly CodeRow[] = [
  {
    code: "400",
    class: "content_permanent",
    stages: ["send"],
    note: "the request was refused as it stands; resending it unchanged cannot succeed",
    source: "A2 (DOC-LOG, SUP-CHK), B4 (DP-HTTP)",
  },
  {
    code: "401",
    class: "account",
    stages: ["send"],
    note: "authentication failed: wrong or revoked credentials, suspended account",
    source: "A2 (SUP-20003), DP-HTTP",
  },
  {
    code: "402",
    class: "account",
    stages: ["send"],
    note: "payment required: a billing problem of the account",
    source: "RFC 9110",
  },
  {
    code: "403",
    class: "account",
    stages: ["send"],
    note: "forbidden: the credentials lack a permission or the action is prohibited",
    source: "DP-HTTP, E-20003",
  },
  {
    // Twilio answers 20404 for a wrong Account SID: every message through it would fail alike.
    code: "404",
    class: "account",
    stages: ["send"],
    note: "the endpoint or account does not exist: wrong account id or base URL",
    source: "RFC 9110",
  },
  {
    code: "408",
    class: "transient",
    stages: ["send"],
    note: "the server gave up waiting for the request: not processed",
    source: "RFC 9110",
  },
  {
    code: "413",
    class: "content_permanent",
    stages: ["send"],
    note: "request too large: the same body will be refused again",
    source: "DP-HTTP, RFC 9110",
  },
  {
    code: "422",
    class: "content_permanent",
    stages: ["send"],
    note: "well-formed but unprocessable: resending it unchanged cannot succeed",
    source: "RFC 9110",
  },
  {
    code: "429",
    class: "rate_limited",
    stages: ["send"],
    note: "too many requests: not processed, slow down",
    source: "E-20429, SUP-429, DP-RL",
  },
  { code: "500", class: "ambiguous", stages: ["send"], note: MAY_EXIST, source: "E-20500, B1" },
  { code: "502", class: "ambiguous", stages: ["send"], note: MAY_EXIST, source: "E-20500, B1" },
  { code: "503", class: "ambiguous", stages: ["send"], note: MAY_EXIST, source: "E-20500, B1" },
  { code: "504", class: "ambiguous", stages: ["send"], note: MAY_EXIST, source: "E-20500, B1" },
  { code: "5xx", class: "ambiguous", stages: ["send"], note: MAY_EXIST, source: "E-20500, B1" },
];
