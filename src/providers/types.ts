/**
 * The one small interface every provider adapter implements: send one message; and, for
 * providers that call back, verify a status webhook's signature and parse it into receipts.
 */
import type { Receipt } from "../store/receipts.js";

/** What the dispatcher hands an adapter for one provider call. */
export interface OutboundMessage {
  id: string;
  to: string;
  from: string | null;
  body: string;
  segments: number;
  /** 1 for the first call, counting every call for this message (Twilio's `Attempt`). */
  attempt: number;
  validUntil: Date | null;
}

/** The outcome of one provider call, typed so the policy can decide what to do next. */
export type SendResult =
  | {
      ok: true;
      providerMessageId: string;
      /** The provider's status word for the new message (e.g. `queued`, `accepted`). */
      providerStatus: string;
      httpStatus: number | null;
      segments?: number;
    }
  | {
      ok: false;
      httpStatus: number | null;
      /** The provider's error code, or a network error name (ETIMEDOUT, ECONNRESET). */
      code: string | null;
      message: string;
      retryAfterMs?: number;
      /** True when the provider may have processed the request (timeout, 5xx on create). */
      ambiguous: boolean;
      /** False when sending the same message again cannot succeed. */
      retryable: boolean;
      /** The provider pushed back (429, queue full, probable throttling): slow down. */
      rateLimited?: boolean;
      /** The recipient has opted out (e.g. Twilio 21610): suppress, never resend. */
      optOut?: boolean;
    };

/** An inbound webhook request as the provider sent it. */
export interface WebhookRequest {
  /** The public URL the provider called, as it signed it. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
}

/** The answer to "did this message reach you?" after an ambiguous attempt. */
export type LookupResult =
  | { found: true; providerMessageId: string; providerStatus: string }
  | { found: false }
  | { error: string };

/** What to look for: the message as sent, no earlier than `sentAfter`. */
export interface LookupQuery {
  to: string;
  from: string | null;
  body: string;
  sentAfter: Date;
}

export interface Provider {
  /** Provider kind, e.g. `sandbox`, `twilio`. */
  readonly name: string;
  /** The account label within that provider (several accounts can share a kind). */
  readonly account: string;
  send(msg: OutboundMessage, signal: AbortSignal): Promise<SendResult>;
  /** Finds a message the provider may have created (for providers that can be asked). */
  /**
   * Opens a keep-alive connection before the first paced send, so the first message is not
   * late by a connection set-up (a late send could crowd a rate limit's second). Best effort.
   */
  warm?(): Promise<void>;
  lookup?(q: LookupQuery, signal: AbortSignal): Promise<LookupResult>;
  /** True when the webhook really comes from this provider. */
  verifyWebhook?(req: WebhookRequest): boolean | Promise<boolean>;
  /** The receipts a verified webhook carries. */
  parseWebhook?(req: WebhookRequest): Receipt[];
}

/** Where adapters that learn outcomes by themselves (the sandbox) report receipts. */
export interface ReceiptSink {
  push(receipt: Receipt): void;
}
