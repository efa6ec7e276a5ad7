/**
 * GET /v1/accounts: each provider account's health as every worker sees it: circuit state and
 * reason, cooldown, today's usage against its budget, and its place in the route. No secrets.
 */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import type { Db } from "../../store/db.js";
import { listAccountStates } from "../../store/accounts.js";
import { Nullable } from "../../messages/schemas.js";

/** What the server knows of an account from the configuration. */
export interface AccountInfo {
  name: string;
  kind: string;
  /** Position in the failover route, or null when it is not in the route. */
  routePosition: number | null;
  dailySegmentBudget: number | null;
}

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
          };
        }),
      };
    },
  );
}
