/**
 * Network and adapter-local failure codes → error class (send stage only). Which side of the
 * request a network error fell on is known only to the adapter (src/providers/http.ts: phase
 * `connect` or `sent`), so rows that can fall on either side say `ambiguous` and the adapter's
 * `ambiguous: false`, when given, turns them into `transient`. Codes that can only happen
 * before anything was written are `transient` whatever the flag.
 */
import type { CodeRow } from "./types.js";

const BEFORE = "before the request was written: nothing reached the provider, safe to resend";
const AFTER =
  "the request may have reached the provider: ambiguous unless the adapter says not sent";

export const NETWORK_ERRORS: readonly CodeRow[] = [
  { code: "ECONNREFUSED", class: "transient", stages: ["send"], note: BEFORE, source: "http.ts" },
  { code: "ENOTFOUND", class: "transient", stages: ["send"], note: BEFORE, source: "http.ts" },
  { code: "EAI_AGAIN", class: "transient", stages: ["send"], note: BEFORE, source: "http.ts" },
  { code: "EHOSTUNREACH", class: "transient", stages: ["send"], note: BEFORE, source: "http.ts" },
  { code: "ENETUNREACH", class: "transient", stages: ["send"], note: BEFORE, source: "http.ts" },
  {
    // http.ts raises ETIMEDOUT for its connect timer (flag false); the OS raises it mid-request.
    code: "ETIMEDOUT",
    class: "ambiguous",
    stages: ["send"],
    note: "connect timeout (adapter says not sent) or a TCP timeout mid-request",
    source: "http.ts, E-20500",
  },
  { code: "ECONNRESET", class: "ambiguous", stages: ["send"], note: AFTER, source: "E-20500" },
  { code: "EPIPE", class: "ambiguous", stages: ["send"], note: AFTER, source: "E-20500" },
  { code: "ECONNABORTED", class: "ambiguous", stages: ["send"], note: AFTER, source: "E-20500" },
  {
    code: "timeout",
    class: "ambiguous",
    stages: ["send"],
    note: "no complete answer within the total timeout; " + AFTER,
    source: "http.ts, E-20500",
  },
  {
    code: "aborted",
    class: "ambiguous",
    stages: ["send"],
    note: "the caller aborted (shutdown); " + AFTER,
    source: "http.ts",
  },
  {
    code: "ERESPONSETOOLARGE",
    class: "ambiguous",
    stages: ["send"],
    note: "the provider answered with over 1 MiB: it had the request",
    source: "http.ts",
  },
  { code: "EUNKNOWN", class: "ambiguous", stages: ["send"], note: AFTER, source: "http.ts" },
  {
    code: "exception",
    class: "ambiguous",
    stages: ["send"],
    note: "the adapter threw: how far the call got is unknown",
    source: "http.ts",
  },
  {
    code: "invalid_response",
    class: "ambiguous",
    stages: ["send"],
    note: "2xx without a message id: the provider said yes to something",
    source: "twilio.ts, dialpad.ts",
  },
  {
    code: "EINVALIDURL",
    class: "account",
    stages: ["send"],
    note: "the account's provider URL is invalid: configuration, nothing sent",
    source: "http.ts",
  },
  {
    code: "EREQUEST",
    class: "account",
    stages: ["send"],
    note: "the request could not be built (e.g. agent of the wrong protocol): configuration",
    source: "http.ts",
  },
  {
    code: "no_sender",
    class: "account",
    stages: ["send"],
    note: "the account has no From number, Messaging Service or user id: configuration",
    source: "twilio.ts, dialpad.ts",
  },
  {
    // Not sent: validity ended before the call. Transient, not permanent: the retry step that
    // follows finds validUntil past and expires the message, which is its true end.
    code: "expired",
    class: "transient",
    stages: ["send"],
    note: "validity ended before the call; nothing sent, the retry step expires the message",
    source: "twilio.ts",
  },
];
