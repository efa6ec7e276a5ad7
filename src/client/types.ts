/**
 * The client's request and answer types. Every one is the static type of a TypeBox schema the
 * server validates and answers with, imported as a type only: the client cannot drift from the
 * API, and importing it loads none of the server's code.
 */
import type { Static } from "@sinclair/typebox";
import type { RequeueInput, RequeueResponse } from "../api/routes/requeue.js";
import type { Suppression, SuppressionInput, SuppressionPage } from "../api/routes/suppressions.js";
import type {
  BatchItemInput,
  BatchResponse,
  BatchResultItem,
  ErrorBody,
  Message,
  MessageDetail,
  MessageInput,
  MessagePage,
  Priority,
} from "../messages/schemas.js";

export type { ErrorCode } from "../errors.js";
export type {
  BatchItemInput,
  BatchResponse,
  BatchResultItem,
  ErrorBody,
  Message,
  MessageDetail,
  MessageInput,
  MessagePage,
  Priority,
  RequeueInput,
  Suppression,
  SuppressionInput,
  SuppressionPage,
};

/** A message's lifecycle status (`queued`, `delivered`, …). */
export type MessageStatus = Message["status"];

/** POST /v1/messages/requeue's answer. */
export type RequeueResult = Static<typeof RequeueResponse>;

/** GET /v1/messages's filters, typed; the same keys as the server's `ListQuery` (a test checks). */
export interface ListOptions {
  /** One status or several. */
  status?: MessageStatus | readonly MessageStatus[];
  /** Recipient, in any number format. */
  to?: string;
  /** Created at or after (RFC 3339, or a Date). */
  since?: string | Date;
  /** 1–500 (the server's default is 50). */
  limit?: number;
  /** A previous page's `nextCursor`. */
  cursor?: string;
}

/** GET /v1/suppressions's query, typed; the same keys as the server's (a test checks). */
export interface SuppressionListOptions {
  /** 1–1000 (the server's default is 100). */
  limit?: number;
  cursor?: string;
}
