/** The HTTP server: /v1 API, health checks, OpenAPI document and the web page. */
import swagger from "@fastify/swagger";
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
} from "fastify";
import { SmsqError } from "../errors.js";
import type { Logger } from "../log.js";
import type { ValidationSettings } from "../messages/validate.js";
import type { Db } from "../store/db.js";
import { latestMigration, schemaVersion } from "../store/migrate.js";
import { ApiKeys } from "./auth.js";
import { errorHandler } from "./errors.js";
import { pageRoutes } from "./routes/page.js";
import { messageRoutes } from "./routes/messages.js";
import { accountRoutes, type AccountInfo } from "./routes/accounts.js";
import { Backpressure, type BackpressureSettings } from "./backpressure.js";
import { SendEstimator, type DeadlineSettings } from "./deadline.js";
import { requeueRoutes } from "./routes/requeue.js";
import { suppressionRoutes } from "./routes/suppressions.js";
import { statsRoutes } from "./routes/stats.js";
import { metricsRoutes, type MetricsEndpoint } from "./routes/metrics.js";
import { webhookRoutes, type WebhookStats } from "../webhooks/routes.js";
import type { Account } from "../config/accounts.js";
import { ajv } from "./validation.js";

declare module "fastify" {
  interface FastifyInstance {
    /** Webhook counters (for metrics). */
    webhookStats: WebhookStats;
  }
  interface FastifyRequest {
    /** Id of the API key that authenticated this request ("anonymous" when none is set). */
    apiKeyId: string;
  }
}

export interface ServerDeps {
  db: Db;
  log: Logger;
  apiKeys: readonly string[];
  settings: ValidationSettings;
  maxRequestBytes: number;
  version: string;
  onSubmitted?: () => void;
  now?: () => Date;
  /** Provider accounts whose webhooks this server verifies (none: webhooks refuse all). */
  accounts?: readonly Account[];
  /** The public base URL providers call back on (what Twilio signs). */
  publicUrl?: string | null;
  /** Accounts shown by GET /v1/accounts. */
  accountInfo?: readonly AccountInfo[];
  /** Queue ceilings: beyond them submissions get 429. */
  backpressure?: BackpressureSettings;
  /** Send-time estimates and deadline checks (when rate limits apply). */
  deadlines?: DeadlineSettings;
  /** GET /metrics (Prometheus); absent: no such route. */
  metrics?: MetricsEndpoint;
}

/** Builds the Fastify app (not listening yet). */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Per-request lines would carry phone numbers in URLs; errors are logged by the handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.maxRequestBytes,
    // Request ids in responses help support; they are random, not derived from input.
    requestIdHeader: false,
    return503OnClosing: true,
    // Errors the router answers before any hook (bad %-escapes, over-long path parameters)
    // get the API's error body too, not Fastify's own shape.
    frameworkErrors: (e, _req, reply) => {
      const err =
        e.code === "FST_ERR_MAX_PARAM_LENGTH"
          ? new SmsqError("not_found", "no such resource: a path parameter is too long", "url")
          : new SmsqError("invalid_request", "the request URL is not valid", "url");
      void (reply as FastifyReply).status(err.status).send(err.toBody());
    },
  });
  // Validate with our Ajv (no coercion, no removal of unknown fields); serialise with plain
  // JSON.stringify, so response schemas document the API without filtering what it returns.
  app.setValidatorCompiler(({ schema }) => ajv.compile(schema));
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.setErrorHandler(errorHandler(deps.log));
  app.setNotFoundHandler((req, reply) => {
    reply
      .status(404)
      .send(new SmsqError("not_found", `no route ${req.method} ${req.url.split("?")[0]}`).toBody());
  });

  // An empty body with a JSON content type is "no body" (e.g. POST …/cancel).
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (req, body, done) => {
    if (body === "" || body === undefined) return done(null, undefined);
    parseJson(req, body as string, done);
  });
  // Fastify parses text/plain by default, which would hand a string to the JSON schemas (400):
  // the API takes JSON only (415). An empty text/plain body is still "no body".
  app.addContentTypeParser("text/plain", { parseAs: "string" }, (_req, body, done) => {
    if (body === "" || body === undefined) return done(null, undefined);
    done(
      new SmsqError(
        "unsupported_media_type",
        "send the request body as application/json",
        "Content-Type",
      ),
    );
  });

  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "smsq",
        version: deps.version,
        description: "Outbound SMS delivery engine. Errors: {error: {code, message, field}}.",
      },
      components: {
        securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      },
    },
  });

  const keys = new ApiKeys(deps.apiKeys);
  app.decorateRequest("apiKeyId", "");
  app.addHook("onRequest", async (req) => {
    // Check the matched route too: the router decodes %-escapes, so "/%761/messages" is
    // routed to /v1/messages although the raw URL does not start with "/v1/".
    const route = req.routeOptions.url ?? "";
    // Webhooks carry no API key: their provider signature is checked instead.
    if (route.startsWith("/v1/webhooks/")) return;
    if (req.url.startsWith("/v1/") || route.startsWith("/v1/")) {
      req.apiKeyId = keys.authenticate(req.headers.authorization);
    }
  });

  app.get("/healthz", { schema: { hide: true } }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: { hide: true } }, async (_req, reply) => {
    const latest = latestMigration();
    let version: number;
    try {
      version = await schemaVersion(deps.db);
    } catch (e) {
      return reply.status(503).send({
        status: "unavailable",
        error: { code: "store_unavailable", message: `store unreachable: ${(e as Error).message}` },
      });
    }
    if (version < latest) {
      return reply.status(503).send({
        status: "migrating",
        error: { code: "store_unavailable", message: `schema at ${version}, expected ${latest}` },
      });
    }
    return { status: "ready", store: deps.db.kind, schema: version };
  });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  messageRoutes(app, {
    db: deps.db,
    settings: deps.settings,
    onSubmitted: deps.onSubmitted,
    now: deps.now,
    backpressure: deps.backpressure ? new Backpressure(deps.db, deps.backpressure) : undefined,
    deadlines: deps.deadlines ? new SendEstimator(deps.db, deps.deadlines) : undefined,
  });
  requeueRoutes(app, { db: deps.db, onRequeued: deps.onSubmitted });
  accountRoutes(app, { db: deps.db, accounts: deps.accountInfo ?? [] });
  suppressionRoutes(app, { db: deps.db, defaultRegion: deps.settings.defaultRegion });
  statsRoutes(app, { db: deps.db });
  app.decorate(
    "webhookStats",
    webhookRoutes(app, {
      db: deps.db,
      log: deps.log,
      accounts: deps.accounts ?? [],
      publicUrl: deps.publicUrl ?? null,
      defaultRegion: deps.settings.defaultRegion,
    }),
  );
  if (deps.metrics) metricsRoutes(app, { metrics: deps.metrics, keys });
  pageRoutes(app);
  return app;
}
