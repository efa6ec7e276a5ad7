/**
 * Dialpad codes → error class. At the send stage the adapter reports the HTTP status as the code
 * ("403"); in receipts the code is `message_delivery_result` (DP-SPEC enum). Dialpad documents
 * neither a rate-limit response nor what each delivery result means, so several rows are our
 * reading of the names, marked "unverified" (fact sheet B2, §E).
 */
import type { CodeRow } from "./types.js";

export const DIALPAD_CODES: readonly CodeRow[] = [
  // --- Send SMS HTTP statuses (where they differ from the generic HTTP table) ---
  {
    code: "401",
    class: "account",
    stages: ["send"],
    note: "bad or revoked API key",
    source: "DP-HTTP",
  },
  {
    // The seed incident: random 403s at ~700/min that stopped when throttled to 100/min. The
    // circuit logic escalates a 403 that persists at a low rate to an account problem.
    code: "403",
    class: "rate_limited",
    stages: ["send"],
    note: "probable throttling (403s at ~700/min, gone at 100/min); persistent at low rate → account, by the circuit",
    source: "B2 (DP-403), §E",
  },
  {
    code: "429",
    class: "rate_limited",
    stages: ["send"],
    note: "rate limit (Send SMS 100/min; 20 requests/s per company); not declared in the spec",
    source: "DP-RL, §E",
  },
  // --- message_delivery_result of a failed message (`accepted` is success: never classified) ---
  {
    code: "invalid_destination",
    class: "recipient_permanent",
    note: "the destination number is invalid",
    source: "DP-SPEC, §E",
  },
  {
    code: "invalid_source",
    class: "account",
    note: "the sending number is not valid for this account (not assigned, not SMS-capable)",
    source: "DP-SPEC, §E",
  },
  {
    code: "not_supported",
    class: "recipient_permanent",
    note: "the destination cannot receive this message (e.g. not SMS-capable)",
    source: "DP-SPEC, §E",
  },
  {
    code: "rejected_spam",
    class: "content_permanent",
    note: "rejected as spam: resending the same body cannot help",
    source: "DP-SPEC, §E",
  },
  {
    // §E is silent on plain `rejected`; by analogy with Twilio 30004/30006 a downstream
    // rejection of this number repeats. Not an opt-out: nothing says the recipient asked.
    code: "rejected",
    class: "recipient_permanent",
    note: "rejected downstream, reason not given: unverified, by analogy with Twilio 30006",
    source: "DP-SPEC",
  },
  {
    code: "no_route",
    class: "transient",
    note: "no route to the destination: candidate transient, unverified",
    source: "DP-SPEC, §E",
  },
  {
    code: "time_out",
    class: "transient",
    note: "delivery timed out: candidate transient, unverified",
    source: "DP-SPEC, §E",
  },
  {
    code: "internal_error",
    class: "transient",
    note: "Dialpad internal error: candidate transient, unverified",
    source: "DP-SPEC, §E",
  },
];
