/**
 * `smsq cleanup [--dry-run]`: the retention run, once, from the command line, against the
 * store the configuration names. `--dry-run` counts what it would redact and delete and changes
 * nothing. A real run takes the same lease as the workers' scheduled run, so the two never
 * overlap. See docs/retention.md.
 */
import { Command, InvalidArgumentError, type Option } from "commander";
import type { Config } from "../config/index.js";
import { createLogger } from "../log.js";
import { RETENTION_TASK } from "../maintenance/retention.js";
import { openStore } from "../store/open.js";
import {
  keepsEverything,
  leaseState,
  planCleanup,
  releaseLease,
  runCleanup,
  takeLease,
  type CleanupCounts,
  type Cutoffs,
  type RetentionSettings,
} from "../store/retention.js";
import { newWorkerId } from "../app.js";

const out = (s: string) => process.stdout.write(s + "\n");

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 100_000) {
    throw new InvalidArgumentError("must be an integer from 1 to 100000");
  }
  return Number(value);
}

const n = (x: number) => x.toLocaleString("en-US");
const day = (d: Date | null) => (d ? d.toISOString() : "never");
const when = (what: string, d: Date | null) => (d ? `${what} ${d.toISOString()}` : "kept");

/** The settings in one line. */
function describe(s: RetentionSettings): string {
  const keep = (days: number, what: string, done: string) =>
    days > 0 ? `${what} ${done} after ${days} days` : `${what} kept`;
  return [
    keep(s.bodiesDays, "bodies", "redacted"),
    keep(s.historyDays, "attempts and events", "deleted"),
    keep(s.messagesDays, "final messages", "deleted"),
  ].join("; ");
}

function report(c: CleanupCounts & { cutoffs: Cutoffs }, verb: { redact: string; del: string }) {
  out(`${verb.redact} ${n(c.bodies)} message bodies (${when("done before", c.cutoffs.bodies)})`);
  out(
    `${verb.del} ${n(c.attempts)} attempts and ${n(c.events)} events (${when("older than", c.cutoffs.history)}; or of deleted messages)`,
  );
  out(
    `${verb.del} ${n(c.messages)} final messages and ${n(c.idempotencyKeys)} idempotency keys (${when("ended before", c.cutoffs.messages)})`,
  );
}

/** The `cleanup` command; `config` loads the configuration as the other commands do. */
export function cleanupCommand(
  config: (file: string | undefined) => Config,
  configOption: () => Option,
): Command {
  return new Command("cleanup")
    .description(
      "Run retention once: redact old message bodies, delete old attempts and events (SMSQ_RETAIN_*)",
    )
    .addOption(configOption())
    .option("--dry-run", "count what would be redacted and deleted; change nothing")
    .option("--batch-size <n>", "rows per statement (default 1000)", positiveInt)
    .option("--json", "print the result as JSON")
    .action(
      async (o: { config?: string; dryRun?: boolean; batchSize?: number; json?: boolean }) => {
        const c = config(o.config);
        const s: RetentionSettings = {
          bodiesDays: c.retainBodiesDays,
          historyDays: c.retainHistoryDays,
          messagesDays: c.retainMessagesDays,
        };
        if (keepsEverything(s)) {
          if (o.json) out(JSON.stringify({ keepsEverything: true }));
          else out("retention keeps everything (SMSQ_RETAIN_* are all 0): nothing to do");
          return;
        }
        const log = createLogger("warn", { format: c.logFormat });
        const db = await openStore(c, log);
        try {
          if (o.dryRun) {
            const plan = await planCleanup(db, s);
            if (o.json) {
              out(JSON.stringify({ dryRun: true, settings: s, ...plan }, null, 2));
              return;
            }
            out(`dry run: ${describe(s)}`);
            report(plan, { redact: "would redact", del: "would delete" });
            return;
          }
          const owner = `cli:${newWorkerId()}`;
          if (!(await takeLease(db, RETENTION_TASK, owner, 3_600_000, 0))) {
            const st = await leaseState(db, RETENTION_TASK);
            throw new Error(
              `a retention run is in progress (${st?.owner ?? "another worker"}, lease until ${day(st?.lease_until ?? null)}); try again later`,
            );
          }
          let result: Awaited<ReturnType<typeof runCleanup>> | null = null;
          try {
            result = await runCleanup(db, s, {
              batchSize: o.batchSize,
              maxMs: 3_000_000,
            });
          } finally {
            await releaseLease(db, RETENTION_TASK, owner, result ?? { error: true });
          }
          if (o.json) {
            out(JSON.stringify({ dryRun: false, settings: s, ...result }, null, 2));
            return;
          }
          out(`${describe(s)}`);
          report(result, { redact: "redacted", del: "deleted" });
          out(
            `${n(result.batches)} statements in ${n(result.ms)} ms${result.complete ? "" : " (stopped before the end: run it again)"}`,
          );
        } finally {
          await db.close();
        }
      },
    );
}
