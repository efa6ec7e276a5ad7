/**
 * The public JSON shapes of the API, as TypeBox schemas: the server validates and documents
 * with them (OpenAPI), and their static types are what the code and a typed client use, so
 * the two cannot drift.
 */
import { Type, type Static } from "@sinclair/typebox";
import { STATUSES } from "./lifecycle.js";

export const Priority = Type.Union(
  [Type.Literal("high"), Type.Literal("normal"), Type.Literal("low")],
  { description: "Lane: high (codes, transactional), normal, low (bulk).", default: "normal" },
);
export type Priority = Static<typeof Priority>;

const messageInputProps = {
  to: Type.String({ maxLength: 64, description: "Recipient; normalised to E.164." }),
  body: Type.String({ maxLength: 10000, description: "Text; counted in GSM-7 or UCS-2 segments." }),
  from: Type.Optional(
    Type.String({ maxLength: 64, description: "Sender number, short code or alphanumeric id." }),
  ),
  sendAt: Type.Optional(
    Type.String({ description: "RFC 3339 time to send at; in the future makes it scheduled." }),
  ),
  validUntil: Type.Optional(
    Type.String({ description: "RFC 3339 time after which the message is not sent (expired)." }),
  ),
  priority: Type.Optional(Priority),
  onDeadline: Type.Optional(
    Type.Union([Type.Literal("reject"), Type.Literal("accept")], {
      description:
        "When its validUntil cannot be met at the current backlog and rate: reject (422 deadline_unmeetable, the default) or accept it flagged deadlineAtRisk.",
    }),
  ),
  metadata: Type.Optional(
    Type.Record(Type.String(), Type.Unknown(), {
      description: "Your own JSON object, returned as given (at most 4 KiB).",
    }),
  ),
};

export const MessageInput = Type.Object(messageInputProps, { additionalProperties: false });
export type MessageInput = Static<typeof MessageInput>;

export const BatchItemInput = Type.Object(
  {
    ...messageInputProps,
    idempotencyKey: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        description: "Like the Idempotency-Key header.",
      }),
    ),
  },
  { additionalProperties: false },
);
export type BatchItemInput = Static<typeof BatchItemInput>;

export const MAX_BATCH = 1000;

export const BatchInput = Type.Object(
  {
    // Items are validated one by one so that one bad item does not refuse the others.
    messages: Type.Array(Type.Unknown(), { minItems: 1, maxItems: MAX_BATCH }),
  },
  { additionalProperties: false },
);
export type BatchInput = Static<typeof BatchInput>;

export const Status = Type.Union(
  STATUSES.map((s) => Type.Literal(s)),
  { description: "Lifecycle status." },
);

/** `t` or null. */
export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);

export const ErrorInfo = Type.Object({
  code: Type.String(),
  message: Type.String(),
  field: Type.Optional(Type.String()),
});

export const ErrorBody = Type.Object({ error: ErrorInfo });

export const LastError = Type.Object({
  code: Nullable(Type.String()),
  message: Nullable(Type.String()),
  class: Nullable(Type.String()),
});

export const Message = Type.Object({
  id: Type.String(),
  to: Type.String(),
  from: Nullable(Type.String()),
  body: Type.String(),
  status: Status,
  priority: Priority,
  segments: Type.Integer(),
  encoding: Type.Union([Type.Literal("GSM-7"), Type.Literal("UCS-2")]),
  sendAt: Nullable(Type.String({ format: "date-time" })),
  validUntil: Nullable(Type.String({ format: "date-time" })),
  metadata: Nullable(Type.Record(Type.String(), Type.Unknown())),
  attemptCount: Type.Integer({ description: "Provider calls made so far." }),
  retrying: Type.Boolean({ description: "True when queued again after a failed attempt." }),
  inDoubt: Type.Boolean({
    description:
      "The last attempt may have reached the provider; it is reconciled before any resend.",
  }),
  nextAttemptAt: Nullable(
    Type.String({ format: "date-time", description: "When it is next due (while waiting)." }),
  ),
  estimatedSendAt: Nullable(
    Type.String({
      format: "date-time",
      description:
        "When it is expected to be sent, estimated at submit from the backlog ahead of it and the working rate; null when no rate limit applies.",
    }),
  ),
  deadlineAtRisk: Type.Boolean({
    description: "Accepted (onDeadline: accept) although the estimate was after its validUntil.",
  }),
  lastError: Nullable(LastError),
  provider: Nullable(Type.String()),
  providerMessageId: Nullable(Type.String()),
  createdAt: Type.String({ format: "date-time" }),
  updatedAt: Type.String({ format: "date-time" }),
  sentAt: Nullable(Type.String({ format: "date-time" })),
  completedAt: Nullable(Type.String({ format: "date-time" })),
});
export type Message = Static<typeof Message>;

export const Attempt = Type.Object({
  attempt: Type.Integer(),
  provider: Type.String(),
  account: Type.String(),
  outcome: Type.Union([
    Type.Literal("accepted"),
    Type.Literal("failed"),
    Type.Literal("abandoned"),
    Type.Literal("reconciled"),
  ]),
  providerMessageId: Nullable(Type.String()),
  providerStatus: Nullable(Type.String()),
  httpStatus: Nullable(Type.Integer()),
  errorCode: Nullable(Type.String()),
  errorMessage: Nullable(Type.String()),
  errorClass: Nullable(Type.String()),
  startedAt: Type.String({ format: "date-time" }),
  finishedAt: Type.String({ format: "date-time" }),
  latencyMs: Nullable(Type.Integer()),
});
export type Attempt = Static<typeof Attempt>;

export const MessageEvent = Type.Object({
  at: Type.String({ format: "date-time" }),
  type: Type.String(),
  fromStatus: Nullable(Type.String()),
  toStatus: Nullable(Type.String()),
  source: Type.String(),
  detail: Nullable(Type.Record(Type.String(), Type.Unknown())),
});
export type MessageEvent = Static<typeof MessageEvent>;

/** GET /v1/messages/:id: the message with its audit trail. */
export const MessageDetail = Type.Composite([
  Message,
  Type.Object({ attempts: Type.Array(Attempt), events: Type.Array(MessageEvent) }),
]);
export type MessageDetail = Static<typeof MessageDetail>;

export const BatchResultItem = Type.Union([Message, ErrorBody]);
export type BatchResultItem = Static<typeof BatchResultItem>;
export type ErrorBody = Static<typeof ErrorBody>;

/** POST /v1/messages/batch: one entry per input, in order, and what became of them. */
export const BatchResponse = Type.Object({
  data: Type.Array(BatchResultItem),
  created: Type.Integer({ description: "Messages this request stored." }),
  replayed: Type.Integer({
    description:
      "Entries of `data` that are idempotent replays: messages stored before under the same key (or earlier in this batch).",
  }),
});
export type BatchResponse = Static<typeof BatchResponse>;

/** GET /v1/messages: one page, newest first. */
export const MessagePage = Type.Object({
  data: Type.Array(Message),
  nextCursor: Nullable(Type.String()),
});
export type MessagePage = Static<typeof MessagePage>;

export const ListQuery = Type.Object(
  {
    status: Type.Optional(Type.String()),
    to: Type.Optional(Type.String()),
    since: Type.Optional(Type.String()),
    limit: Type.Optional(Type.String()),
    cursor: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type ListQuery = Static<typeof ListQuery>;
