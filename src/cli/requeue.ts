/** `smsq requeue`: put dead letters back in the queue through a running smsq's API. */
import { Command, InvalidArgumentError } from "commander";
import { VERSION } from "../version.js";
import { call, target } from "./http.js";

/** How many ids the summary lists before "…". */
const SHOWN_IDS = 20;

const out = (s: string) => process.stdout.write(s + "\n");

/** Collects a repeatable, comma-separated option into one list. */
const list = (value: string, prev: string[] = []): string[] => [
  ...prev,
  ...value
    .split(",")
    .map((v) => v.trim())
    .filter((v) => v.length > 0),
];

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new InvalidArgumentError("must be a positive integer");
  }
  return Number(value);
}

interface RequeueCliOptions {
  id?: string[];
  status?: string[];
  code?: string[];
  class?: string[];
  since?: string;
  until?: string;
  limit?: number;
  dryRun?: boolean;
  url?: string;
  apiKey?: string;
  json?: boolean;
}

interface RequeueAnswer {
  matched: number;
  requeued: number;
  dryRun: boolean;
  ids: string[];
}

const plural = (n: number) => `${n} message${n === 1 ? "" : "s"}`;

/** The `requeue` command. */
export function requeueCommand(): Command {
  return new Command("requeue")
    .description(
      "Put failed (or expired, undelivered) messages back in the queue with a fresh attempt budget",
    )
    .option("--id <id>", "only this message (repeat, or comma-separate)", list)
    .option(
      "--status <list>",
      "statuses to requeue (default failed): failed,expired,undelivered",
      list,
    )
    .option("--code <list>", "last error code is one of these, e.g. 30003,30005", list)
    .option("--class <list>", "last error class is one of these, e.g. transient,ambiguous", list)
    .option("--since <time>", "completed at or after this RFC 3339 time")
    .option("--until <time>", "completed before this RFC 3339 time")
    .option("--limit <n>", "at most this many messages (default 1000, max 10000)", positiveInt)
    .option("--dry-run", "show what would be requeued; change nothing")
    .option("--url <url>", "smsq API URL (default $SMSQ_URL or http://127.0.0.1:$SMSQ_PORT)")
    .option("--api-key <key>", "API key (default $SMSQ_API_KEY)")
    .option("--json", "print the answer as JSON")
    .action(async (o: RequeueCliOptions) => {
      const body: Record<string, unknown> = {};
      if (o.id) body.ids = o.id;
      if (o.status) body.statuses = o.status;
      if (o.code) body.errorCodes = o.code;
      if (o.class) body.errorClasses = o.class;
      if (o.since !== undefined) body.since = o.since;
      if (o.until !== undefined) body.until = o.until;
      if (o.limit !== undefined) body.limit = o.limit;
      if (o.dryRun) body.dryRun = true;
      let res: RequeueAnswer;
      try {
        const t = target({ url: o.url, apiKey: o.apiKey });
        const answer = await call(t, "POST", "/v1/messages/requeue", body, {
          "user-agent": `smsq-cli/${VERSION}`,
        });
        res = answer.data as RequeueAnswer;
      } catch (e) {
        process.stderr.write(`smsq: ${(e as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      if (o.json) {
        out(JSON.stringify(res, null, 2));
        return;
      }
      if (res.dryRun) out(`would requeue ${plural(res.matched)}`);
      else out(`requeued ${plural(res.requeued)}`);
      for (const id of res.ids.slice(0, SHOWN_IDS)) out(`  ${id}`);
      if (res.ids.length > SHOWN_IDS) out(`  … and ${res.ids.length - SHOWN_IDS} more`);
    });
}
