/**
 * GET /metrics: Prometheus text format. Scrapers send the API key as `Authorization: Bearer
 * <key>` (Prometheus's `authorization` / `bearer_token_file`); SMSQ_METRICS_PUBLIC=true serves
 * it without one. With no API key configured it is open, like the API (loopback only).
 */
import type { FastifyInstance } from "fastify";
import type { ApiKeys } from "../auth.js";

export interface MetricsEndpoint {
  render(): Promise<string>;
  readonly contentType: string;
  /** Serve without an API key even when keys are set. */
  public: boolean;
}

/** Registers GET /metrics. */
export function metricsRoutes(
  app: FastifyInstance,
  deps: { metrics: MetricsEndpoint; keys: ApiKeys },
): void {
  app.get("/metrics", { schema: { hide: true } }, async (req, reply) => {
    if (!deps.metrics.public) deps.keys.authenticate(req.headers.authorization);
    const text = await deps.metrics.render();
    return reply.header("content-type", deps.metrics.contentType).send(text);
  });
}
