/** /v1/messages: submit one or a batch, read, list, cancel. */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { SmsqError, isSmsqError } from "../../errors.js";
import { isMessageId } from "../../messages/ids.js";
import { isStatus, type MessageStatus } from "../../messages/lifecycle.js";
import { toE164 } from "../../messages/phone.js";
import {
  BatchInput,
  BatchItemInput,
  BatchResponse,
  ErrorBody,
  ListQuery,
  Message,
  MessageDetail,
  MessageInput,
  MessagePage,
} from "../../messages/schemas.js";
import {
  hasUnstorableChars,
  parseTime,
  validateMessage,
  type ValidationSettings,
} from "../../messages/validate.js";
import type { Db } from "../../store/db.js";
import {
  cancelMessage,
  getMessage,
  listMessages,
  submitMessages,
  type Submission,
} from "../../store/messages.js";
import { requestHash } from "../canonical.js";
import type { Backpressure } from "../backpressure.js";
import type { SendEstimator } from "../deadline.js";
import { check } from "../validation.js";

export interface MessageRoutesDeps {
  db: Db;
  settings: ValidationSettings;
  /** Called after messages were stored, so an in-process dispatcher can pick them up at once. */
  onSubmitted?: () => void;
  now?: () => Date;
  /** Queue ceilings (429 beyond them); absent = none. */
  backpressure?: Backpressure;
  /** Send-time estimates and deadline checks under rate limits; absent = none. */
  deadlines?: SendEstimator;
}

const IdParams = Type.Object({ id: Type.String() }, { additionalProperties: false });
const IdempotencyHeader = Type.Object({
  "idempotency-key": Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
});
const security = [{ bearer: [] }];

const cursorOf = (id: string) => Buffer.from(id, "utf8").toString("base64url");
function idOfCursor(cursor: string): string {
  const id = Buffer.from(cursor, "base64url").toString("utf8");
  if (!isMessageId(id)) throw new SmsqError("invalid_request", "cursor is not valid", "cursor");
  return id;
}

function messageIdParam(id: string): string {
  if (!isMessageId(id)) throw new SmsqError("not_found", `no message ${id}`, "id");
  return id;
}

/** Registers the message routes. */
export function messageRoutes(app: FastifyInstance, deps: MessageRoutesDeps): void {
  const now = deps.now ?? (() => new Date());

  app.post(
    "/v1/messages",
    {
      schema: {
        summary: "Submit a message",
        tags: ["messages"],
        security,
        headers: IdempotencyHeader,
        body: MessageInput,
        response: { 200: Message, 202: Message, 400: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const input = req.body as MessageInput;
      const key = (req.headers["idempotency-key"] as string | undefined) ?? undefined;
      const message = validateMessage(input, deps.settings, now());
      await deps.deadlines?.apply(message, input.onDeadline === "accept");
      const sub: Submission = { message };
      if (key !== undefined) {
        sub.idempotencyKey = key;
        sub.requestHash = requestHash(input);
      }
      await deps.backpressure?.check(req.apiKeyId, 1);
      const [res] = await submitMessages(deps.db, req.apiKeyId, [sub]);
      if (!res) throw new Error("submit returned nothing");
      switch (res.kind) {
        case "created":
          deps.backpressure?.added(req.apiKeyId, 1);
          deps.deadlines?.added(message);
          deps.onSubmitted?.();
          return reply.status(202).send(res.message);
        case "replayed":
          return reply.status(200).send(res.message);
        case "conflict":
          throw new SmsqError(
            "idempotency_conflict",
            "this Idempotency-Key was used with a different payload",
            "Idempotency-Key",
          );
      }
    },
  );

  app.post(
    "/v1/messages/batch",
    {
      schema: {
        summary: "Submit up to 1,000 messages in one transaction",
        description:
          "Each item is accepted or refused on its own; `data` holds one entry per input, in order.",
        tags: ["messages"],
        security,
        body: BatchInput,
        response: { 200: BatchResponse, 400: ErrorBody },
      },
    },
    async (req) => {
      const { messages } = req.body as BatchInput;
      const t = now();
      const results: (object | null)[] = new Array(messages.length).fill(null);
      const subs: { index: number; sub: Submission; accept: boolean }[] = [];
      const byKey = new Map<string, { index: number; hash: string }>();
      messages.forEach((raw, i) => {
        const prefix = `messages[${i}].`;
        try {
          const item = check(BatchItemInput, raw, prefix);
          const { idempotencyKey, ...input } = item;
          if (idempotencyKey !== undefined && hasUnstorableChars(idempotencyKey)) {
            throw new SmsqError(
              "invalid_request",
              "idempotencyKey must not contain NUL characters or unpaired surrogates",
              `${prefix}idempotencyKey`,
            );
          }
          const message = validateMessage(input, deps.settings, t, prefix);
          const sub: Submission = { message };
          if (idempotencyKey !== undefined) {
            const hash = requestHash(input);
            // The same key twice in one batch: the second is a replay (or conflict) of the first.
            const first = byKey.get(idempotencyKey);
            if (first) {
              results[i] =
                first.hash === hash
                  ? { sameAs: first.index }
                  : new SmsqError(
                      "idempotency_conflict",
                      "this idempotencyKey was used with a different payload",
                      `${prefix}idempotencyKey`,
                    ).toBody();
              return;
            }
            byKey.set(idempotencyKey, { index: i, hash });
            sub.idempotencyKey = idempotencyKey;
            sub.requestHash = hash;
          }
          subs.push({ index: i, sub, accept: input.onDeadline === "accept" });
        } catch (e) {
          if (!isSmsqError(e)) throw e;
          results[i] = e.toBody();
        }
      });
      // Deadlines, item by item: one that cannot be met is refused on its own.
      if (deps.deadlines) {
        for (let j = subs.length - 1; j >= 0; j--) {
          const { index, sub, accept } = subs[j] as (typeof subs)[number];
          try {
            await deps.deadlines.apply(sub.message, accept, `messages[${index}].validUntil`);
          } catch (e) {
            if (!isSmsqError(e)) throw e;
            results[index] = e.toBody();
            subs.splice(j, 1);
          }
        }
      }
      // The whole batch or none of it: a partly refused batch is harder to retry than a 429.
      if (subs.length > 0) await deps.backpressure?.check(req.apiKeyId, subs.length);
      const stored = await submitMessages(
        deps.db,
        req.apiKeyId,
        subs.map((s) => s.sub),
      );
      let created = 0;
      stored.forEach((res, j) => {
        const index = (subs[j] as { index: number }).index;
        if (res.kind === "conflict") {
          results[index] = new SmsqError(
            "idempotency_conflict",
            "this idempotencyKey was used with a different payload",
            `messages[${index}].idempotencyKey`,
          ).toBody();
        } else {
          if (res.kind === "created") {
            created += 1;
            deps.deadlines?.added((subs[j] as { sub: Submission }).sub.message);
          }
          results[index] = res.message;
        }
      });
      const data = results.map((r) =>
        r && "sameAs" in r ? results[(r as { sameAs: number }).sameAs] : r,
      );
      if (created > 0) {
        deps.backpressure?.added(req.apiKeyId, created);
        deps.onSubmitted?.();
      }
      const accepted = data.filter((r) => r && !("error" in r)).length;
      return { data, created, replayed: accepted - created };
    },
  );

  app.get(
    "/v1/messages/:id",
    {
      schema: {
        summary: "A message with its attempts and events",
        tags: ["messages"],
        security,
        params: IdParams,
        response: { 200: MessageDetail, 404: ErrorBody },
      },
    },
    async (req) => {
      const id = messageIdParam((req.params as { id: string }).id);
      const m = await getMessage(deps.db, id);
      if (!m) throw new SmsqError("not_found", `no message ${id}`, "id");
      return m;
    },
  );

  app.get(
    "/v1/messages",
    {
      schema: {
        summary: "List messages, newest first",
        description:
          "Filters: status (one or several, comma-separated), to, since (RFC 3339). Page with `cursor` = the previous page's `nextCursor`.",
        tags: ["messages"],
        security,
        querystring: ListQuery,
        response: { 200: MessagePage, 400: ErrorBody },
      },
    },
    async (req) => {
      const q = req.query as ListQuery;
      let statuses: MessageStatus[] | undefined;
      if (q.status !== undefined) {
        statuses = [];
        for (const s of q.status.split(",").map((x) => x.trim())) {
          if (!isStatus(s)) {
            throw new SmsqError(
              "invalid_request",
              `status "${s}" is not a message status`,
              "status",
            );
          }
          statuses.push(s);
        }
      }
      let to: string | undefined;
      if (q.to !== undefined) {
        const e164 = toE164(q.to, deps.settings.defaultRegion);
        if (!e164) throw new SmsqError("invalid_phone", "to is not a valid phone number", "to");
        to = e164;
      }
      const since = q.since === undefined ? undefined : parseTime(q.since, "since");
      let limit = 50;
      if (q.limit !== undefined) {
        limit = Number(q.limit);
        if (!/^\d+$/.test(q.limit) || limit < 1 || limit > 500) {
          throw new SmsqError("invalid_request", "limit must be an integer from 1 to 500", "limit");
        }
      }
      const beforeId = q.cursor === undefined ? undefined : idOfCursor(q.cursor);
      const page = await listMessages(deps.db, { statuses, to, since, beforeId, limit });
      return { data: page.data, nextCursor: page.nextId ? cursorOf(page.nextId) : null };
    },
  );

  app.post(
    "/v1/messages/:id/cancel",
    {
      schema: {
        summary: "Cancel a message that has not been sent",
        tags: ["messages"],
        security,
        params: IdParams,
        response: { 200: Message, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => {
      const id = messageIdParam((req.params as { id: string }).id);
      return cancelMessage(deps.db, id);
    },
  );
}
