/** /v1/suppressions: list, add and remove numbers that must not be messaged. */
import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { SmsqError } from "../../errors.js";
import { toE164 } from "../../messages/phone.js";
import { ErrorBody } from "../../messages/schemas.js";
import type { Db } from "../../store/db.js";
import { addSuppression, listSuppressions, removeSuppression } from "../../store/suppressions.js";

export const Suppression = Type.Object({
  phone: Type.String(),
  reason: Type.String(),
  source: Type.String(),
  createdAt: Type.String({ format: "date-time" }),
});
export type Suppression = Static<typeof Suppression>;
export const SuppressionInput = Type.Object(
  {
    phone: Type.String({ maxLength: 64 }),
    reason: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);
export type SuppressionInput = Static<typeof SuppressionInput>;
export const SuppressionListQuery = Type.Object(
  { limit: Type.Optional(Type.String()), cursor: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
export type SuppressionListQuery = Static<typeof SuppressionListQuery>;
export const SuppressionPage = Type.Object({
  data: Type.Array(Suppression),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
export type SuppressionPage = Static<typeof SuppressionPage>;
const security = [{ bearer: [] }];

function phoneOf(raw: string, region: string, field: string): string {
  const e164 = toE164(raw, region);
  if (!e164) throw new SmsqError("invalid_phone", `${field} is not a valid phone number`, field);
  return e164;
}

/** Registers the suppression routes. */
export function suppressionRoutes(
  app: FastifyInstance,
  deps: { db: Db; defaultRegion: string },
): void {
  app.get(
    "/v1/suppressions",
    {
      schema: {
        summary: "List suppressed numbers",
        tags: ["suppressions"],
        security,
        querystring: SuppressionListQuery,
        response: { 200: SuppressionPage },
      },
    },
    async (req) => {
      const q = req.query as { limit?: string; cursor?: string };
      const limit = q.limit === undefined ? 100 : Number(q.limit);
      if (q.limit !== undefined && (!/^\d+$/.test(q.limit) || limit < 1 || limit > 1000)) {
        throw new SmsqError("invalid_request", "limit must be an integer from 1 to 1000", "limit");
      }
      let after: string | null = null;
      if (q.cursor !== undefined) {
        after = Buffer.from(q.cursor, "base64url").toString("utf8");
        if (!/^\+\d{6,15}$/.test(after)) {
          throw new SmsqError("invalid_request", "cursor is not valid", "cursor");
        }
      }
      const page = await listSuppressions(deps.db, limit, after);
      return {
        data: page.data,
        nextCursor: page.next ? Buffer.from(page.next).toString("base64url") : null,
      };
    },
  );

  app.post(
    "/v1/suppressions",
    {
      schema: {
        summary: "Suppress a number",
        description: "201 when added, 200 when it was already on the list (left unchanged).",
        tags: ["suppressions"],
        security,
        body: SuppressionInput,
        response: { 200: Suppression, 201: Suppression, 400: ErrorBody },
      },
    },
    async (req, reply) => {
      const body = req.body as { phone: string; reason?: string };
      const phone = phoneOf(body.phone, deps.defaultRegion, "phone");
      const res = await addSuppression(deps.db, phone, body.reason ?? "manual", "api");
      return reply.status(res.created ? 201 : 200).send(res.suppression);
    },
  );

  app.delete(
    "/v1/suppressions/:phone",
    {
      schema: {
        summary: "Remove a number from the suppression list",
        tags: ["suppressions"],
        security,
        params: Type.Object({ phone: Type.String() }),
        response: { 204: Type.Null(), 404: ErrorBody },
      },
    },
    async (req, reply) => {
      const phone = phoneOf((req.params as { phone: string }).phone, deps.defaultRegion, "phone");
      if (!(await removeSuppression(deps.db, phone))) {
        throw new SmsqError("not_found", `${phone} is not suppressed`, "phone");
      }
      return reply.status(204).send();
    },
  );
}
