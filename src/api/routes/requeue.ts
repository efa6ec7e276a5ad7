/** Dead letters back to the queue: retry one message, or requeue many by filter. */
import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { SmsqError } from "../../errors.js";
import { isMessageId } from "../../messages/ids.js";
import { isStatus, requeueableStates, type MessageStatus } from "../../messages/lifecycle.js";
import { ErrorBody, Message } from "../../messages/schemas.js";
import { parseTime } from "../../messages/validate.js";
import type { Db } from "../../store/db.js";
import {
  DEFAULT_REQUEUE_LIMIT,
  MAX_REQUEUE_LIMIT,
  requeueMessages,
  retryMessage,
  type RequeueFilter,
} from "../../store/requeue.js";

export interface RequeueRoutesDeps {
  db: Db;
  /** Called after messages were requeued, so an in-process dispatcher can pick them up at once. */
  onRequeued?: () => void;
}

const IdParams = Type.Object({ id: Type.String() }, { additionalProperties: false });
const security = [{ bearer: [] }];

const Strings = (description: string, maxItems: number) =>
  Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 255 }), {
      minItems: 1,
      maxItems,
      description,
    }),
  );

export const RequeueInput = Type.Object(
  {
    ids: Strings("Only these messages", MAX_REQUEUE_LIMIT),
    statuses: Type.Optional(
      Type.Array(Type.String(), {
        minItems: 1,
        maxItems: 10,
        description: `Statuses to requeue (default ["failed"]); any of ${requeueableStates().join(", ")}`,
      }),
    ),
    errorCodes: Strings("Last error code is one of these", 100),
    errorClasses: Strings("Last error class is one of these", 100),
    since: Type.Optional(Type.String({ description: "completedAt at or after (RFC 3339)" })),
    until: Type.Optional(Type.String({ description: "completedAt before (RFC 3339)" })),
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_REQUEUE_LIMIT,
        description: `At most this many messages (default ${DEFAULT_REQUEUE_LIMIT})`,
      }),
    ),
    dryRun: Type.Optional(Type.Boolean({ description: "Count and list, change nothing" })),
  },
  { additionalProperties: false },
);
export type RequeueInput = Static<typeof RequeueInput>;

export const RequeueResponse = Type.Object({
  matched: Type.Integer(),
  requeued: Type.Integer(),
  dryRun: Type.Boolean(),
  ids: Type.Array(Type.String()),
});

/** `cli` when the request comes from `smsq requeue` (it says so in its User-Agent). */
function sourceOf(req: FastifyRequest): "api" | "cli" {
  return (req.headers["user-agent"] ?? "").startsWith("smsq-cli/") ? "cli" : "api";
}

/** The store filter for a request body; throws the API error for bad input. */
function toFilter(body: RequeueInput): RequeueFilter {
  const f: RequeueFilter = {};
  if (body.ids !== undefined) {
    body.ids.forEach((id, i) => {
      if (!isMessageId(id)) {
        throw new SmsqError("invalid_request", `ids[${i}] is not a message id`, "ids");
      }
    });
    f.ids = body.ids;
  }
  if (body.statuses !== undefined) {
    const allowed = requeueableStates();
    const statuses: MessageStatus[] = [];
    for (const s of body.statuses) {
      if (!isStatus(s) || !allowed.includes(s)) {
        throw new SmsqError(
          "invalid_request",
          `statuses: "${s}" cannot be requeued; use ${allowed.join(", ")}`,
          "statuses",
        );
      }
      statuses.push(s);
    }
    f.statuses = statuses;
  }
  if (body.errorCodes !== undefined) f.errorCodes = body.errorCodes;
  if (body.errorClasses !== undefined) f.errorClasses = body.errorClasses;
  if (body.since !== undefined) f.since = parseTime(body.since, "since");
  if (body.until !== undefined) f.until = parseTime(body.until, "until");
  if (body.limit !== undefined) f.limit = body.limit;
  return f;
}

/** Registers POST /v1/messages/:id/retry and POST /v1/messages/requeue. */
export function requeueRoutes(app: FastifyInstance, deps: RequeueRoutesDeps): void {
  app.post(
    "/v1/messages/:id/retry",
    {
      schema: {
        summary: "Put one failed, expired or undelivered message back in the queue",
        description:
          "The message keeps its attempts and events and gets a fresh attempt budget. Answers 409 invalid_state when its status cannot be requeued or its validUntil has passed.",
        tags: ["messages"],
        security,
        params: IdParams,
        response: { 200: Message, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => {
      const { id } = req.params as { id: string };
      if (!isMessageId(id)) throw new SmsqError("not_found", `no message ${id}`, "id");
      const m = await retryMessage(deps.db, id, sourceOf(req));
      deps.onRequeued?.();
      return m;
    },
  );

  app.post(
    "/v1/messages/requeue",
    {
      schema: {
        summary: "Requeue dead letters by filter",
        description:
          'Matches messages in `statuses` (default ["failed"]) and every other filter given, oldest first, up to `limit`; messages past their validUntil are never matched. With `dryRun` nothing changes.',
        tags: ["messages"],
        security,
        body: RequeueInput,
        response: { 200: RequeueResponse, 400: ErrorBody },
      },
    },
    async (req) => {
      const body = req.body as RequeueInput;
      const dryRun = body.dryRun ?? false;
      const res = await requeueMessages(deps.db, toFilter(body), {
        dryRun,
        source: sourceOf(req),
      });
      if (res.requeued > 0) deps.onRequeued?.();
      return { matched: res.matched, requeued: res.requeued, dryRun, ids: res.ids };
    },
  );
}
