/**
 * Twilio error codes → error class: every code of the fact sheet's A3 catalogue and §E decision
 * map, with the sheet's engine class (RL → rate_limited, T → transient, PR →
 * recipient_permanent, AC → account, C → content_permanent). Rows are not gated by stage unless
 * the meaning differs: a code means the same thing whether Twilio answers it on create or puts it
 * in a status callback. Twilio warns that `error_code` is "subject to change" (OAI, CL-ERR), so
 * anything not listed falls through to the HTTP status and the defaults, never to a guess.
 */
import type { CodeRow } from "./types.js";

export const TWILIO_CODES: readonly CodeRow[] = [
  // --- REST API (sync) ---
  {
    code: "14107",
    class: "rate_limited",
    note: ">30 messages between the same two numbers in 30 s: failed for 30 s (loop protection; fix the loop)",
    source: "E-14107",
  },
  {
    code: "20003",
    class: "account",
    note: "401 authentication error: wrong SID/token, deleted key, account suspended or closed",
    source: "E-20003, SUP-20003",
  },
  {
    code: "20429",
    class: "rate_limited",
    note: "429 too many concurrent requests: not processed, safe to resend (never ambiguous)",
    source: "E-20429, SUP-429",
  },
  {
    // With no code in Twilio's body the adapter reports the HTTP status; same fact as 20429.
    code: "429",
    class: "rate_limited",
    stages: ["send"],
    note: "HTTP 429 without a Twilio code: requests that receive 429 are not processed",
    source: "E-20429, SUP-429",
  },
  {
    code: "20500",
    class: "ambiguous",
    stages: ["send"],
    note: "500 on create: the message may exist and create is not idempotent; reconcile first",
    source: "E-20500",
  },
  {
    // A receipt proves Twilio had the message: nothing is in doubt any more.
    code: "20500",
    class: "transient",
    stages: ["receipt"],
    note: "internal error reported for an existing message: Twilio failed it, retry with backoff",
    source: "E-20500",
  },
  {
    code: "21211",
    class: "recipient_permanent",
    note: "invalid 'To' number (not E.164, To = From, short code or alphanumeric To)",
    source: "E-21211, SUP-CHK",
  },
  {
    code: "21408",
    class: "account",
    note: "destination region not enabled in the account's Messaging Geo Permissions",
    source: "E-21408",
  },
  {
    code: "21610",
    class: "recipient_permanent",
    optOut: true,
    note: "recipient replied STOP: blocked until START (legal opt-out)",
    source: "E-21610, SUP-STOP",
  },
  {
    code: "21611",
    class: "rate_limited",
    note: "sender's queue full (~10 h of segments at its MPS): nothing created, slow down",
    source: "E-21611",
  },
  {
    code: "21612",
    class: "recipient_permanent",
    note: "this To/From pair cannot be connected (e.g. short code to landline); account-wide if every number gets it",
    source: "SUP-CHK",
  },
  {
    code: "21614",
    class: "recipient_permanent",
    note: "'To' is not a valid mobile number (landline etc.)",
    source: "CL-ERR, SUP-CHK",
  },
  {
    code: "21617",
    class: "content_permanent",
    note: "body exceeds 1,600 characters once concatenated",
    source: "E-21617",
  },
  // --- status callbacks (async) ---
  {
    code: "30001",
    class: "rate_limited",
    note: "queue overflow: queued longer than Twilio keeps messages (4 h or 10 h; sources disagree)",
    source: "E-30001, E-21611, OAI",
  },
  {
    code: "30002",
    class: "account",
    note: "account suspended before the send (balance, AUP, fraud): not transient, halt the account",
    source: "E-30002",
  },
  {
    code: "30003",
    class: "transient",
    note: "handset unreachable (off, no signal, roaming): a few spaced retries",
    source: "E-30003",
  },
  {
    code: "30004",
    class: "recipient_permanent",
    optOut: true,
    note: "message blocked: recipient opted out (STOP), blocklist, DND or filtering; treat as opt-out",
    source: "E-30004",
  },
  {
    code: "30005",
    class: "recipient_permanent",
    note: "unknown destination handset: the number may no longer exist (no Twilio page; secondary)",
    source: "A3 (secondary: help.chekkit.io)",
  },
  {
    code: "30006",
    class: "recipient_permanent",
    note: "landline or unreachable carrier: do not retry the same SMS to that destination",
    source: "E-30006",
  },
  {
    // A3 says C/AC, §E lists it with account codes. Filtering is decided per message, and one
    // spammy body from an API client must not halt every message of the account.
    code: "30007",
    class: "content_permanent",
    note: "message filtered as spam/phishing/policy by Twilio or the carrier: fix content (or registration if it persists)",
    source: "E-30007",
  },
  {
    code: "30008",
    class: "transient",
    note: "unknown error, unspecified carrier failure: 1-2 retries (no Twilio page; secondary)",
    source: "A3 (secondary: help.chekkit.io, text.com)",
  },
  {
    // N/A for outbound: listed so that seeing it is explained, classed like the default.
    code: "30009",
    class: "transient",
    note: "missing segment of an inbound message: not an outbound outcome (same as the default)",
    source: "A3 (secondary: ecourtdate)",
  },
  {
    code: "30010",
    class: "transient",
    note: "message price exceeds MaxPrice: obsolete since 2024-06-03, smsq never sets MaxPrice",
    source: "E-30010, OAI",
  },
  {
    code: "30022",
    class: "rate_limited",
    note: "US A2P 10DLC throughput exceeded: carrier rejected, pace the campaign",
    source: "E-30022",
  },
  {
    code: "30023",
    class: "rate_limited",
    note: "US A2P 10DLC daily cap reached: defer to the next day (00:00 PT) (secondary)",
    source: "A2P",
  },
  {
    code: "30024",
    class: "account",
    note: "numeric sender ID not provisioned on the carrier (10DLC/short code/toll-free, port)",
    source: "E-30024",
  },
  {
    code: "30027",
    class: "rate_limited",
    note: "T-Mobile daily limit per one secondary source (others say 30023): daily quota",
    source: "ALW",
  },
  {
    code: "30032",
    class: "account",
    note: "toll-free number not verified (not 'unreachable handset', as some code claims)",
    source: "E-30032",
  },
  {
    code: "30034",
    class: "account",
    note: "unresolved: probably the 10DLC unregistered-number block; account pending verification",
    source: "A3 (no Twilio page)",
  },
  {
    code: "30410",
    class: "transient",
    note: "no source found: transient, bounded by the attempt budget",
    source: "A3 (no source)",
  },
  {
    code: "30450",
    class: "transient",
    note: "blocked by SMS Pumping Protection for 15-30 min: retry after at least 30 min",
    source: "E-30450",
  },
  {
    code: "30500",
    class: "transient",
    note: "'unknown error' in a third-party glossary only: unverified, classed like the default",
    source: "A3 (secondary: knowledge.911cellular.com)",
  },
  {
    code: "30532",
    class: "account",
    note: "toll-free verification / 10DLC registration rejected: fix the registration",
    source: "E-30532",
  },
  {
    code: "30533",
    class: "account",
    note: "toll-free verification / 10DLC registration rejected",
    source: "E-30533",
  },
  {
    code: "30538",
    class: "account",
    note: "toll-free verification / 10DLC registration rejected",
    source: "E-30538",
  },
  {
    code: "30540",
    class: "account",
    note: "toll-free verification / 10DLC registration rejected",
    source: "E-30540",
  },
  {
    code: "30544",
    class: "account",
    note: "toll-free verification / 10DLC registration rejected",
    source: "E-30544",
  },
  {
    code: "63017",
    class: "rate_limited",
    note: "account and subaccounts over 2,000 messages per second combined",
    source: "E-63017",
  },
];
