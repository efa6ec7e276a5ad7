#!/usr/bin/env node
/**
 * The `smsq` command line: serve, worker, send, status, migrate, requeue, simulate, stats,
 * cleanup.
 */
import { Command, Option } from "commander";
import { start } from "../app.js";
import { ConfigError, loadConfig, type Config } from "../config/index.js";
import { isSmsqError } from "../errors.js";
import { createLogger } from "../log.js";
import type { Message, MessageDetail } from "../messages/schemas.js";
import { openStore } from "../store/open.js";
import { migrate } from "../store/migrate.js";
import { VERSION } from "../version.js";
import { cleanupCommand } from "./cleanup.js";
import { csvSendCommand } from "./csv-send.js";
import { call, target } from "./http.js";
import { requeueCommand } from "./requeue.js";
import { simulateCommand } from "./simulate.js";
import { statsCommand } from "./stats.js";
import { DEFAULT_TWILIO_ACCOUNT, startSimulator } from "../simulator/index.js";

const out = (s: string) => process.stdout.write(s + "\n");

function fail(message: string, code = 1): never {
  process.stderr.write(`smsq: ${message}\n`);
  process.exit(code);
}

function config(file: string | undefined, extra: Record<string, string> = {}): Config {
  try {
    return loadConfig({ ...process.env, ...extra }, file ?? null);
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const p of e.problems) process.stderr.write(`smsq: config: ${p}\n`);
      process.exit(2);
    }
    throw e;
  }
}

function storeLabel(c: Config): string {
  if (!c.databaseUrl) return `embedded PGlite at ${c.dataDir}`;
  const u = new URL(c.databaseUrl);
  return `PostgreSQL at ${u.hostname}:${u.port || 5432}${u.pathname}`;
}

async function run(mode: "serve" | "worker", c: Config, api: boolean, worker: boolean) {
  if (mode === "worker" && !c.databaseUrl) {
    fail(
      "SMSQ_DATABASE_URL: smsq worker needs a PostgreSQL server; the embedded store serves one process (use smsq serve)",
      2,
    );
  }
  const log = createLogger(c.logLevel, { format: c.logFormat });
  const running = await start(c, { api, worker, log }).catch((e: unknown) => {
    if (isSmsqError(e)) fail(e.message, 2);
    fail(`cannot start: ${(e as Error).message}`);
  });
  const a = c.account;
  const parts = [
    `store: ${storeLabel(c)}`,
    `provider: ${a.kind === "sandbox" ? "sandbox" : `${a.kind} (${a.name}, ${a.baseUrl})`}`,
  ];
  if (a.kind === "twilio" && !c.publicUrl) {
    parts.push("no SMSQ_PUBLIC_URL, so no status callbacks: messages stay sent");
  }
  if (!worker) parts.push("no worker");
  if (running.url) {
    if (c.apiKeys.length === 0) {
      parts.push(
        "no API key configured, so listening on 127.0.0.1 only (set SMSQ_API_KEYS to open it)",
      );
    }
    out(`smsq ${VERSION} listening on ${running.url} (${parts.join("; ")})`);
  } else {
    out(`smsq ${VERSION} worker started (${parts.join("; ")})`);
  }
  let signals = 0;
  const shutdown = (sig: string) => {
    signals += 1;
    if (signals > 1) {
      log.warn("second signal: exiting without waiting");
      process.exit(130);
    }
    log.info({ signal: sig }, "stopping: no new claims, finishing the calls in flight");
    running.stop().then(
      () => {
        log.info("stopped");
        process.exit(0);
      },
      (e: unknown) => {
        log.error({ err: e }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

function printMessage(m: Message | MessageDetail, json: boolean) {
  if (json) {
    out(JSON.stringify(m, null, 2));
    return;
  }
  out(`${m.id}  ${m.status}${m.retrying ? " (waiting to retry)" : ""}`);
  out(
    `  to ${m.to}${m.from ? ` from ${m.from}` : ""}, ${m.segments} ${m.encoding} segment(s), priority ${m.priority}`,
  );
  out(
    `  created ${m.createdAt}, attempts ${m.attemptCount}${m.nextAttemptAt ? `, next ${m.nextAttemptAt}` : ""}`,
  );
  if (m.lastError) {
    out(
      `  last error: ${m.lastError.code ?? ""} ${m.lastError.message ?? ""} [${m.lastError.class ?? ""}]`,
    );
  }
  if ("events" in m) {
    for (const a of m.attempts) {
      out(
        `  attempt ${a.attempt} ${a.finishedAt} ${a.provider}/${a.account} ${a.outcome}${a.errorCode ? ` ${a.errorCode}` : ""}`,
      );
    }
    for (const e of m.events) {
      out(`  event ${e.at} ${e.type} ${e.fromStatus ?? ""} → ${e.toStatus ?? ""} (${e.source})`);
    }
  }
}

const program = new Command();
program
  .name("smsq")
  .description(
    "Outbound SMS delivery engine: a durable queue in PostgreSQL, rate-limit-aware dispatch, retries and receipts.",
  )
  .version(VERSION);

const configOption = () =>
  new Option("-c, --config <file>", "JSON config file (environment variables win)");

program
  .command("serve")
  .description("Run the API, the worker and the web page in one process")
  .addOption(configOption())
  .option("--no-worker", "serve the API only (workers run elsewhere)")
  .option(
    "--demo",
    "send through an in-process provider simulator speaking Twilio's API, with signed status callbacks",
  )
  .action(async (o: { config?: string; worker: boolean; demo?: boolean }) => {
    if (!o.demo) {
      await run("serve", config(o.config), true, o.worker);
      return;
    }
    // Demo: the real Twilio adapter and webhook path, against the simulator instead of Twilio.
    const sim = await startSimulator({ port: 0 });
    const port = process.env.SMSQ_PORT || "8080";
    const c = config(o.config, {
      TWILIO_ACCOUNT_SID: DEFAULT_TWILIO_ACCOUNT.sid,
      TWILIO_AUTH_TOKEN: DEFAULT_TWILIO_ACCOUNT.authToken,
      TWILIO_FROM: "+15005550006",
      TWILIO_MPS: "10",
      TWILIO_BASE_URL: sim.url,
      SMSQ_PROVIDER: "twilio",
      SMSQ_PUBLIC_URL: `http://127.0.0.1:${port}`,
    });
    out(`smsq demo: provider simulator at ${sim.url} (its log: ${sim.url}/_sim/log)`);
    await run("serve", c, true, o.worker);
  });

program
  .command("worker")
  .description("Dispatch messages only; run any number of these against one PostgreSQL server")
  .addOption(configOption())
  .action(async (o: { config?: string }) => {
    await run("worker", config(o.config), false, true);
  });

program
  .command("migrate")
  .description("Apply pending database migrations and exit")
  .addOption(configOption())
  .action(async (o: { config?: string }) => {
    const c = config(o.config);
    const log = createLogger("warn", { format: c.logFormat });
    try {
      const db = await openStore(c, log, { migrate: false });
      const applied = await migrate(db);
      await db.close();
      out(applied.length > 0 ? `applied: ${applied.join(", ")}` : "schema is up to date");
    } catch (e) {
      fail((e as Error).message);
    }
  });

program
  .command("send")
  .description("Submit one message to a running smsq, or every row of a CSV file (--csv)")
  .option("--to <number>", "recipient phone number (required without --csv)")
  .option("--body <text>", "message text (required without --csv)")
  .option("--from <sender>", "sender number or id")
  .option("--send-at <time>", "RFC 3339 time to send at")
  .option("--valid-until <time>", "RFC 3339 time after which it is not sent")
  .addOption(new Option("--priority <lane>", "lane").choices(["high", "normal", "low"]))
  .option("--idempotency-key <key>", "makes a repeated send return the first message")
  .option("--url <url>", "smsq API URL (default $SMSQ_URL or http://127.0.0.1:$SMSQ_PORT)")
  .option("--api-key <key>", "API key (default $SMSQ_API_KEY)")
  .option("--json", "print the message as JSON")
  .option(
    "--csv <file>",
    "send every row of a CSV file (columns to, body; optional from, sendAt, validUntil, priority, metadata, idempotencyKey); exits 1 if any row is bad",
  )
  .option("--key-prefix <prefix>", "with --csv: prepended to every row's idempotency key")
  .option("--batch-size <n>", "with --csv: rows per request (1–1000, default 1000)")
  .option("--dry-run", "with --csv: check every row, send nothing")
  .action(async (o: Record<string, string | boolean | undefined>, cmd: Command) => {
    if (o.csv !== undefined) {
      const t = target({
        url: o.url as string | undefined,
        apiKey: o.apiKey as string | undefined,
      });
      await csvSendCommand(o, (m) => cmd.error(`error: ${m}`), t);
      return;
    }
    const missing =
      o.to === undefined ? "--to <number>" : o.body === undefined ? "--body <text>" : null;
    if (missing) cmd.error(`error: required option '${missing}' not specified`);
    const body: Record<string, unknown> = { to: o.to, body: o.body };
    if (o.from) body.from = o.from;
    if (o.sendAt) body.sendAt = o.sendAt;
    if (o.validUntil) body.validUntil = o.validUntil;
    if (o.priority) body.priority = o.priority;
    const headers: Record<string, string> = {};
    if (typeof o.idempotencyKey === "string") headers["idempotency-key"] = o.idempotencyKey;
    try {
      const t = target({
        url: o.url as string | undefined,
        apiKey: o.apiKey as string | undefined,
      });
      const res = await call(t, "POST", "/v1/messages", body, headers);
      printMessage(res.data as Message, Boolean(o.json));
    } catch (e) {
      fail((e as Error).message);
    }
  });

program
  .command("status")
  .description("Show a message with its attempts and events")
  .argument("<id>", "message id (msg_…)")
  .option("--url <url>", "smsq API URL")
  .option("--api-key <key>", "API key")
  .option("--json", "print as JSON")
  .action(async (id: string, o: { url?: string; apiKey?: string; json?: boolean }) => {
    try {
      const res = await call(target(o), "GET", `/v1/messages/${encodeURIComponent(id)}`);
      printMessage(res.data as MessageDetail, Boolean(o.json));
    } catch (e) {
      fail((e as Error).message);
    }
  });

program.addCommand(requeueCommand());
program.addCommand(simulateCommand());
program.addCommand(statsCommand());
program.addCommand(cleanupCommand(config, configOption));

program.parseAsync().catch((e: unknown) => fail((e as Error).message));
