/**
 * GET /v1/accounts: each provider account's health as every worker sees it: circuit state and
 * reason, cooldown, today's usage against its budget, and its place in the route. No secrets.
 */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { Db } from "../../store/db.js";
import { listAccountStates } from "../../store/accounts.js";
import { readBuckets, type BucketRow } from "../../store/limits.js";
import { Nullable } from "../../messages/schemas.js";

/** What the server knows of an account from the configuration. */
export interface AccountInfo {
  name: string;
  kind: string;
  /** Position in the failover route, or null when it is not in the route. */
  routePosition: number | null;
  dailySegmentBudget: number | null;
}

/** A token bucket as the API shows it: rates in segments per second. */
const Bucket = Type.Object({
  key: Type.String(),
  sender: Nullable(Type.String()),
  /** The configured rate (null: no rate at this level, e.g. an in-flight cap only). */
  configured: Nullable(Type.Number()),
  /** The working rate, learned from the provider's rate limits (AIMD); at most `configured`. */
  learned: Nullable(Type.Number()),
  maxInFlight: Nullable(Type.Integer()),
  cooldownUntil: Nullable(Type.String({ format: "date-time" })),
  lastLimitedAt: Nullable(Type.String({ format: "date-time" })),
  limitedTotal: Type.Integer(),
  acceptedTotal: Type.Integer(),
});

const bucketView = (b: BucketRow) => ({
  key: b.key,
  sender: b.sender,
  configured: b.ceiling,
  learned: b.rate,
  maxInFlight: b.max_in_flight,
  cooldownUntil: iso(b.cooldown_until),
  lastLimitedAt: iso(b.last_limited_at),
  limitedTotal: b.limited_total,
  acceptedTotal: b.accepted_total,
});

const AccountHealth = Type.Object({
  name: Type.String(),
  kind: Type.String(),
  routePosition: Nullable(Type.Integer()),
  circuit: Type.Union([Type.Literal("closed"), Type.Literal("open"), Type.Literal("half_open")]),
  circuitReason: Nullable(Type.String()),
  openedAt: Nullable(Type.String({ format: "date-time" })),
  nextProbeAt: Nullable(Type.String({ format: "date-time" })),
  cooldownUntil: Nullable(Type.String({ format: "date-time" })),
  cooldownReason: Nullable(Type.String()),
  attemptsToday: Type.Integer(),
  segmentsToday: Type.Integer(),
  dailySegmentBudget: Nullable(Type.Integer()),
  /** The account-wide bucket, if the account has one. */
  rate: Nullable(Bucket),
  /** Its senders' buckets. */
  senders: Type.Array(Bucket),
});

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

/** Registers GET /v1/accounts. */
export function accountRoutes(
  app: FastifyInstance,
  deps: { db: Db; accounts: readonly AccountInfo[] },
): void {
  app.get(
    "/v1/accounts",
    {
      schema: {
        summary: "Provider accounts and their health",
        tags: ["accounts"],
        security: [{ bearer: [] }],
        response: { 200: Type.Object({ data: Type.Array(AccountHealth) }) },
      },
    },
    async () => {
      const states = new Map((await listAccountStates(deps.db)).map((s) => [s.account, s]));
      const buckets = await readBuckets(deps.db);
      return {
        data: deps.accounts.map((a) => {
          const st = states.get(a.name);
          return {
            name: a.name,
            kind: a.kind,
            routePosition: a.routePosition,
            circuit: st?.circuit ?? "closed",
            circuitReason: st?.circuitReason ?? null,
            openedAt: iso(st?.openedAt ?? null),
            nextProbeAt: iso(st?.nextProbeAt ?? null),
            cooldownUntil: iso(st?.cooldownUntil ?? null),
            cooldownReason: st?.cooldownReason ?? null,
            attemptsToday: st?.attemptsToday ?? 0,
            segmentsToday: st?.segmentsToday ?? 0,
            dailySegmentBudget: a.dailySegmentBudget,
            rate: ((b) => (b ? bucketView(b) : null))(
              buckets.find((b) => b.account === a.name && b.sender === null),
            ),
            senders: buckets
              .filter((b) => b.account === a.name && b.sender !== null)
              .map(bucketView),
          };
        }),
      };
    },
  );

  app.get(
    "/v1/limits",
    {
      schema: {
        summary: "Every token bucket: configured and learned rates (segments per second)",
        tags: ["accounts"],
        security: [{ bearer: [] }],
        response: {
          200: Type.Object({
            data: Type.Array(
              Type.Intersect([Bucket, Type.Object({ account: Nullable(Type.String()) })]),
            ),
          }),
        },
      },
    },
    async () => ({
      data: (await readBuckets(deps.db)).map((b) => ({ ...bucketView(b), account: b.account })),
    }),
  );
}
