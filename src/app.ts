/**
 * Wires the parts into the two process shapes: `serve` (API + worker + page in one process)
 * and `worker` (dispatch only, for scale-out against a PostgreSQL server).
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { buildServer } from "./api/server.js";
import type { Account, Config } from "./config/index.js";
import { Dispatcher } from "./dispatch/dispatcher.js";
import { limitPlan } from "./limits/from-config.js";
import { AlertSink } from "./policy/alerts.js";
import { DEFAULT_RESEND, type ResendPolicy } from "./store/resend.js";
import { ReceiptBuffer } from "./dispatch/receipts.js";
import { createLogger, type Logger } from "./log.js";
import { RetentionTimer } from "./maintenance/retention.js";
import { serveMetrics, type MetricsServer } from "./metrics/http.js";
import { Metrics } from "./metrics/metrics.js";
import { assertNever } from "./errors.js";
import { createDialpad } from "./providers/dialpad.js";
import { createSandbox } from "./providers/sandbox.js";
import { createTwilio } from "./providers/twilio.js";
import type { Provider, ReceiptSink } from "./providers/types.js";
import type { Db } from "./store/db.js";
import { DueListener, DueNotifier } from "./store/notify.js";
import { openStore } from "./store/open.js";
import { VERSION } from "./version.js";

export interface Running {
  db: Db;
  log: Logger;
  app: FastifyInstance | null;
  dispatcher: Dispatcher | null;
  receipts: ReceiptBuffer;
  /** The address the API listens on, when it does. */
  url: string | null;
  /** Prometheus metrics (GET /metrics on the API, and on SMSQ_METRICS_PORT when set). */
  metrics: Metrics;
  /** The address of the metrics server of SMSQ_METRICS_PORT, when set. */
  metricsUrl: string | null;
  /** The scheduled retention run (workers only). */
  retention: RetentionTimer | null;
  stop(): Promise<void>;
}

/** A worker id unique across hosts and restarts: host, pid and a random suffix. */
export function newWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
}

/** The adapter for the account messages are sent through. */
export function createProvider(
  config: Config,
  receipts: ReceiptSink,
  a: Account = config.account,
): Provider {
  switch (a.kind) {
    case "sandbox":
      return createSandbox({ sink: receipts, logFile: config.sandboxLog });
    case "twilio":
      return createTwilio({
        account: a.name,
        accountSid: a.accountSid,
        auth:
          a.apiKeySid && a.apiKeySecret
            ? { username: a.apiKeySid, password: a.apiKeySecret }
            : { username: a.accountSid, password: a.authToken ?? "" },
        from: a.from,
        messagingServiceSid: a.messagingServiceSid,
        baseUrl: a.baseUrl,
        statusCallbackUrl: config.publicUrl
          ? `${config.publicUrl}/v1/webhooks/twilio/status`
          : null,
        timeoutMs: config.sendTimeoutMs,
      });
    case "dialpad":
      return createDialpad({
        account: a.name,
        apiToken: a.apiToken,
        from: a.from,
        baseUrl: a.baseUrl,
        timeoutMs: config.sendTimeoutMs,
      });
    default:
      return assertNever(a);
  }
}

// Transient carrier outcomes worth one more try, per provider (see docs/policy.md).
const RESEND_CODES: Record<string, string[]> = {
  twilio: ["30003", "30008"],
  dialpad: ["time_out", "internal_error"],
};

/** Each route account's resend policy, or null when it does not re-send (the default). */
export function resendPolicies(config: Config): Record<string, ResendPolicy | null> {
  return Object.fromEntries(
    config.routeAccounts.map((a) => {
      if (a.kind === "sandbox") return [a.name, null];
      const setting = a.resendUndelivered ?? config.resendUndelivered;
      if (setting === false) return [a.name, null];
      const o = setting === true ? {} : setting;
      return [
        a.name,
        {
          codes: o.codes ?? RESEND_CODES[a.kind] ?? DEFAULT_RESEND.codes,
          afterMs: o.afterMs ?? DEFAULT_RESEND.afterMs,
          max: o.max ?? DEFAULT_RESEND.max,
        },
      ];
    }),
  );
}

/** An account's daily segment budget: its own, else the global setting. */
function budgetOf(config: Config, a: Account): number | null {
  return (a.kind === "sandbox" ? null : a.dailySegmentBudget) ?? config.dailySegmentBudget;
}

/** The accounts GET /v1/accounts shows: the route's, then any other configured one. */
function accountInfo(config: Config) {
  const all = [
    ...config.routeAccounts,
    ...config.accounts.filter((a) => !config.routeAccounts.includes(a)),
  ];
  return all.map((a) => {
    const position = config.routeAccounts.indexOf(a);
    return {
      name: a.name,
      kind: a.kind,
      routePosition: position >= 0 ? position : null,
      dailySegmentBudget: budgetOf(config, a),
    };
  });
}

/** Each route account's daily segment budget, by name. */
export function budgets(config: Config): Record<string, number | null> {
  return Object.fromEntries(config.routeAccounts.map((a) => [a.name, budgetOf(config, a)]));
}

function createDispatcher(
  config: Config,
  db: Db,
  log: Logger,
  receipts: ReceiptSink,
  metrics?: Metrics,
) {
  const route = config.routeAccounts.map((a) => createProvider(config, receipts, a));
  const plan = limitPlan(config);
  return new Dispatcher({
    db,
    log,
    route,
    onAttempt: metrics?.onAttempt,
    alerts: new AlertSink(log, config.alertWebhookUrl),
    workerId: newWorkerId(),
    settings: {
      batchSize: config.batchSize,
      concurrency: config.concurrency,
      pollMs: config.pollMs,
      leaseMs: config.leaseMs,
      sendTimeoutMs: config.sendTimeoutMs,
      housekeepingMs: 1000,
      retry: { maxAttempts: config.maxAttempts },
      // Per account: its own setting, else SMSQ_IN_DOUBT_POLICY, else reconcile where the
      // provider can be asked (it has a lookup) and resend where it cannot.
      inDoubt: Object.fromEntries(
        route.map((p, i) => {
          const a = config.routeAccounts[i];
          const own = a && a.kind !== "sandbox" ? a.inDoubtPolicy : undefined;
          return [p.account, own ?? config.inDoubtPolicy ?? (p.lookup ? "reconcile" : "resend")];
        }),
      ),
      classOverrides: config.classOverrides,
      dailySegmentBudgets: budgets(config),
      destinations: Object.fromEntries(
        config.routeAccounts.flatMap((a) =>
          a.kind !== "sandbox" && a.destinations ? [[a.name, a.destinations]] : [],
        ),
      ),
      resendUndelivered: resendPolicies(config),
      laneShares: config.laneShares,
      limits: plan
        ? {
            plan,
            headroom: config.rateHeadroom,
            aimd: config.adaptiveRate ? undefined : { factor: 1 },
          }
        : undefined,
      watch: { maxQueueAgeMs: config.alertQueueAgeMs, maxDeadLetters: config.alertDeadLetters },
    },
  });
}

export interface StartOptions {
  api: boolean;
  worker: boolean;
  log?: Logger;
  /** Keep the embedded store in memory instead of SMSQ_DATA_DIR (tests, demos). */
  memory?: boolean;
}

/** Starts smsq as configured; resolves once it listens and dispatches. */
export async function start(config: Config, opts: StartOptions): Promise<Running> {
  const log = opts.log ?? createLogger(config.logLevel, { format: config.logFormat });
  const db = await openStore(
    { databaseUrl: config.databaseUrl, dataDir: opts.memory ? null : config.dataDir },
    log,
  );
  const receipts = new ReceiptBuffer(db, log);
  const metrics = new Metrics(db, { accounts: config.routeAccounts.map((a) => a.name) });
  // Receipts reported in process (the sandbox's) are counted on their way to the buffer.
  const sink: ReceiptSink = {
    push: (r) => {
      metrics.onReceipt(r);
      receipts.push(r);
    },
  };
  const dispatcher = opts.worker ? createDispatcher(config, db, log, sink, metrics) : null;
  // Workers in other processes hear of submits through LISTEN/NOTIFY (store/notify.ts).
  const notifier = new DueNotifier(db, log);
  const listener =
    dispatcher && db.kind === "postgres" && config.databaseUrl
      ? new DueListener({ url: config.databaseUrl, log }, () => dispatcher.wake())
      : null;
  const endpoint = {
    render: () => metrics.render(),
    contentType: metrics.contentType,
    public: config.metricsPublic,
  };
  metrics.attach({ dispatcher, receipts: receipts.counts });
  let app: FastifyInstance | null = null;
  let url: string | null = null;
  if (opts.api) {
    app = await buildServer({
      db,
      log,
      accounts: config.accounts,
      accountInfo: accountInfo(config),
      backpressure: { maxQueued: config.maxQueued, maxQueuedPerKey: config.maxQueuedPerKey },
      // Deadlines are checked where rates are limited; unlimited sends go at once.
      deadlines: limitPlan(config)
        ? { account: (config.routeAccounts[0] ?? config.account).name }
        : undefined,
      publicUrl: config.publicUrl,
      apiKeys: config.apiKeys,
      settings: { defaultRegion: config.defaultRegion, maxSegments: config.maxSegments },
      maxRequestBytes: config.maxRequestBytes,
      version: VERSION,
      onSubmitted: () => {
        dispatcher?.wake();
        notifier.poke();
      },
      metrics: endpoint,
    });
    metrics.attach({ webhooks: app.webhookStats });
    // With no API key the API is open, so it listens on loopback only, whatever SMSQ_HOST says.
    const open = config.apiKeys.length === 0;
    const host = open ? "127.0.0.1" : (config.host ?? "0.0.0.0");
    try {
      url = await app.listen({ port: config.port, host });
    } catch (e) {
      await db.close().catch(() => undefined);
      throw e;
    }
  }
  // With no API key the metrics server, like the API, listens on loopback only.
  let metricsServer: MetricsServer | null = null;
  if (config.metricsPort !== null) {
    try {
      metricsServer = await serveMetrics(endpoint, {
        port: config.metricsPort,
        host: config.apiKeys.length === 0 ? "127.0.0.1" : (config.host ?? "0.0.0.0"),
        apiKeys: config.apiKeys,
        log,
      });
    } catch (e) {
      await app?.close();
      await db.close().catch(() => undefined);
      throw e;
    }
  }
  // Retention runs where messages are dispatched, one worker at a time (a lease in the store).
  const retention = opts.worker
    ? new RetentionTimer(
        db,
        {
          bodiesDays: config.retainBodiesDays,
          historyDays: config.retainHistoryDays,
          messagesDays: config.retainMessagesDays,
        },
        newWorkerId(),
        log,
        { everyMs: config.retentionIntervalMs },
      )
    : null;
  metrics.attach({ retention });
  await listener?.start();
  dispatcher?.start();
  retention?.start();

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      // Order matters: stop taking requests, stop claiming and finish the calls in flight,
      // apply their receipts, then close the store.
      await app?.close();
      await metricsServer?.close();
      await retention?.stop();
      await listener?.close();
      await dispatcher?.stop();
      await receipts.close();
      await db.close();
    })());
  return {
    db,
    log,
    app,
    dispatcher,
    receipts,
    url,
    metrics,
    metricsUrl: metricsServer?.url ?? null,
    retention,
    stop,
  };
}
