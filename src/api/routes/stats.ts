/**
 * GET /v1/stats: what an operator asks every day, computed from indexed queries bounded by the
 * window (see src/store/stats.ts): sends per bucket, outcomes and delivery rate, errors by
 * class and code, retry success, attempts per message, the queue by lane, and each account's
 * health (as GET /v1/accounts reports it) with its calls in the window.
 */
import { Type, type Static } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { SmsqError, type ErrorCode } from "../../errors.js";
import { ErrorBody, Nullable } from "../../messages/schemas.js";
import type { Db } from "../../store/db.js";
import {
  BUCKETS,
  DEFAULT_WINDOW_MINUTES,
  getStats,
  LANES,
  MAX_WINDOW_MINUTES,
  OUTCOMES,
  TOP_CODES,
} from "../../store/stats.js";

const Count = Type.Integer({ minimum: 0 });
const Rate = Nullable(Type.Number({ minimum: 0, maximum: 1 }));
const Outcomes = Type.Object(
  Object.fromEntries(OUTCOMES.map((s) => [s, Count])) as Record<
    (typeof OUTCOMES)[number],
    typeof Count
  >,
);

const ErrorByClass = Type.Object({
  class: Nullable(Type.String()),
  attempts: Type.Integer({ description: "Failed or abandoned provider calls in the window." }),
  messages: Type.Integer({
    description: "Messages that ended failed, undelivered or expired in the window with it.",
  }),
});

const AccountActivity = Type.Object({
  attempts: Count,
  sent: Count,
  failed: Count,
  latencyMs: Nullable(Type.Integer({ description: "Mean provider call latency." })),
});

export const StatsQuery = Type.Object(
  { window: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

export const StatsBody = Type.Object({
  window: Type.Object({
    minutes: Type.Integer(),
    bucketSeconds: Type.Integer({ description: `The window split into ${BUCKETS} buckets.` }),
    since: Type.String({ format: "date-time" }),
    until: Type.String({ format: "date-time" }),
  }),
  series: Type.Array(
    Type.Object({
      at: Type.String({ format: "date-time", description: "Start of the bucket." }),
      sent: Type.Integer({ description: "Provider calls accepted." }),
      failed: Type.Integer({ description: "Provider calls failed or abandoned." }),
      delivered: Type.Integer({ description: "Messages that reached delivered." }),
      undelivered: Type.Integer({ description: "Messages that ended undelivered or failed." }),
    }),
    { minItems: BUCKETS, maxItems: BUCKETS },
  ),
  totals: Type.Object({
    attempts: Count,
    sent: Count,
    failed: Count,
    completed: Count,
  }),
  outcomes: Outcomes,
  deliveryRate: Rate,
  errors: Type.Object({
    byClass: Type.Array(ErrorByClass),
    byCode: Type.Array(
      Type.Composite([ErrorByClass, Type.Object({ code: Nullable(Type.String()) })]),
      { maxItems: TOP_CODES },
    ),
  }),
  retries: Type.Object({
    messages: Count,
    succeeded: Count,
    failed: Count,
    pending: Count,
    successRate: Rate,
  }),
  attemptsPerMessage: Nullable(Type.Number()),
  queue: Type.Object({
    scheduled: Count,
    lanes: Type.Array(
      Type.Object({
        lane: Type.Union(LANES.map((l) => Type.Literal(l))),
        queued: Count,
        due: Count,
        oldestDueSeconds: Nullable(Type.Number()),
        sending: Count,
        sent: Type.Integer({
          description: "Waiting for a receipt, among the messages submitted in the window.",
        }),
        completed: Outcomes,
      }),
    ),
  }),
  accounts: Type.Array(
    Type.Object(
      {
        name: Type.String(),
        kind: Type.String(),
        circuit: Type.String(),
        window: AccountActivity,
      },
      {
        additionalProperties: true,
        description: "Each entry of GET /v1/accounts, with `window`: its calls in the window.",
      },
    ),
  ),
  generatedAt: Type.String({ format: "date-time" }),
  queryMs: Type.Number({ description: "Time spent in the store." }),
});
export type StatsBody = Static<typeof StatsBody>;

function windowParam(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_WINDOW_MINUTES;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_WINDOW_MINUTES) {
    throw new SmsqError(
      "invalid_request",
      `window must be an integer number of minutes from 1 to ${MAX_WINDOW_MINUTES}`,
      "window",
    );
  }
  return n;
}

/** Registers GET /v1/stats. */
export function statsRoutes(app: FastifyInstance, deps: { db: Db }): void {
  app.get(
    "/v1/stats",
    {
      schema: {
        summary: "Delivery statistics of the last hour (or `window` minutes)",
        description: `Series of ${BUCKETS} buckets, outcomes, errors, retries, queue by lane and account health.`,
        tags: ["stats"],
        security: [{ bearer: [] }],
        querystring: StatsQuery,
        response: { 200: StatsBody, 400: ErrorBody },
      },
    },
    async (req) => {
      const minutes = windowParam((req.query as Static<typeof StatsQuery>).window);
      const started = performance.now();
      // Account health exactly as GET /v1/accounts answers it (whatever fields it has), asked
      // in process with this request's credentials.
      const [stats, health] = await Promise.all([
        getStats(deps.db, { windowMinutes: minutes }),
        app.inject({
          method: "GET",
          url: "/v1/accounts",
          headers: req.headers.authorization ? { authorization: req.headers.authorization } : {},
        }),
      ]);
      if (health.statusCode !== 200) {
        const err = (health.json() as { error?: { code?: ErrorCode; message?: string } }).error;
        if (err?.code && err.message) throw new SmsqError(err.code, err.message);
        throw new Error(`GET /v1/accounts answered ${health.statusCode}`);
      }
      const queryMs = Math.round((performance.now() - started) * 10) / 10;
      const activity = new Map(stats.accounts.map((a) => [a.account, a]));
      const accounts = (health.json() as { data: { name: string }[] }).data.map((a) => {
        const w = activity.get(a.name);
        return {
          ...a,
          window: {
            attempts: w?.attempts ?? 0,
            sent: w?.sent ?? 0,
            failed: w?.failed ?? 0,
            latencyMs: w?.latencyMs ?? null,
          },
        };
      });
      return { ...stats, accounts, generatedAt: new Date().toISOString(), queryMs };
    },
  );
}
