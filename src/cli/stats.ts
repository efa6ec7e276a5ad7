/** `smsq stats`: GET /v1/stats from a running smsq as a compact table, once or refreshing. */
import { Command, InvalidArgumentError } from "commander";
import type { StatsBody } from "../api/routes/stats.js";
import { VERSION } from "../version.js";
import { call, target, type Target } from "./http.js";

const DEFAULT_WATCH_SECONDS = 2;
const SPARKS = "▁▂▃▄▅▆▇█";

function positiveInt(max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
      throw new InvalidArgumentError(`must be an integer from 1 to ${max}`);
    }
    return Number(value);
  };
}

const num = (n: number) => n.toLocaleString("en-US");
const pct = (r: number | null) => (r === null ? "–" : `${(r * 100).toFixed(1)} %`);

function age(seconds: number | null): string {
  if (seconds === null) return "–";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** A one-line chart: one block per bucket, scaled to the largest. */
export function sparkline(values: readonly number[]): string {
  const max = Math.max(0, ...values);
  return values
    .map((v) => (v <= 0 ? " " : SPARKS[Math.min(7, Math.floor((v / max) * 7.999))]))
    .join("");
}

/** Lays out rows as columns; the first `text` columns left-aligned, the rest (numbers) right. */
function table(head: string[], rows: string[][], text = 1): string[] {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i >= text ? c.padStart(width[i] ?? 0) : c.padEnd(width[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

type SeriesPoint = StatsBody["series"][number];

/** The stats as lines of text for the terminal. */
export function renderStats(s: StatsBody): string {
  const out: string[] = [];
  const until = new Date(s.window.until);
  const per = s.window.bucketSeconds === 60 ? "minute" : `${s.window.bucketSeconds} s`;
  out.push(
    `smsq stats: last ${s.window.minutes} min, until ${until.toISOString().slice(11, 19)} UTC (store ${s.queryMs} ms)`,
  );
  out.push("");
  const t = s.totals;
  const r = s.retries;
  const perMessage = s.attemptsPerMessage === null ? "–" : s.attemptsPerMessage.toFixed(2);
  out.push(
    `calls     ${num(t.attempts)}: ${num(t.sent)} sent, ${num(t.failed)} failed; ${perMessage} per message that ended`,
  );
  out.push(`delivery  ${pct(s.deliveryRate)} delivered (of delivered, undelivered and failed)`);
  out.push(
    `retries   ${pct(r.successRate)} succeeded (${num(r.succeeded)} of ${num(r.succeeded + r.failed)} retried messages that ended; ${num(r.pending)} pending)`,
  );
  out.push("");
  out.push(`one column per ${per}, oldest left:`);
  for (const [label, pick] of [
    ["sent", (p: SeriesPoint) => p.sent],
    ["failed", (p: SeriesPoint) => p.failed],
    ["delivered", (p: SeriesPoint) => p.delivered],
    ["undelivered", (p: SeriesPoint) => p.undelivered],
  ] as const) {
    const values = s.series.map(pick);
    const peak = Math.max(0, ...values);
    out.push(`  ${label.padEnd(11)} |${sparkline(values)}| peak ${num(peak)} per ${per}`);
  }
  out.push("");
  out.push(
    "outcomes  " +
      Object.entries(s.outcomes)
        .map(([k, v]) => `${k} ${num(v)}`)
        .join("  "),
  );
  out.push("");
  out.push(
    ...table(
      ["lane", "queued", "due", "oldest due", "sending", "sent*"],
      s.queue.lanes.map((l) => [
        l.lane,
        num(l.queued),
        num(l.due),
        age(l.oldestDueSeconds),
        num(l.sending),
        num(l.sent),
      ]),
    ),
  );
  out.push(
    `scheduled ${num(s.queue.scheduled)}   (*sent: waiting for a receipt, submitted in the window)`,
  );
  out.push("");
  if (s.errors.byCode.length === 0) {
    out.push("errors    none");
  } else {
    out.push(
      ...table(
        ["error code", "class", "calls", "messages"],
        s.errors.byCode.map((e) => [
          e.code ?? "–",
          e.class ?? "–",
          num(e.attempts),
          num(e.messages),
        ]),
        2,
      ),
    );
  }
  out.push("");
  if (s.accounts.length === 0) {
    out.push("accounts  none configured");
  } else {
    out.push(
      ...table(
        ["account", "kind", "circuit", "calls", "sent", "failed", "latency", "rate"],
        s.accounts.map((a) => {
          const acc = a as typeof a & {
            circuitReason?: string | null;
            cooldownUntil?: string | null;
            rate?: { configured?: number | null; learned?: number | null } | null;
          };
          const cool =
            acc.cooldownUntil && Date.parse(acc.cooldownUntil) > until.getTime()
              ? " (cooling down)"
              : "";
          const rate = acc.rate
            ? `${acc.rate.learned ?? "–"}/${acc.rate.configured ?? "–"} per s`
            : "–";
          return [
            a.name,
            a.kind,
            `${a.circuit}${acc.circuit !== "closed" && acc.circuitReason ? `: ${acc.circuitReason}` : ""}${cool}`,
            num(a.window.attempts),
            num(a.window.sent),
            num(a.window.failed),
            a.window.latencyMs === null ? "–" : `${a.window.latencyMs} ms`,
            rate,
          ];
        }),
        3,
      ),
    );
  }
  return out.join("\n");
}

async function fetchStats(t: Target, minutes: number | undefined): Promise<StatsBody> {
  const q = minutes === undefined ? "" : `?window=${minutes}`;
  const res = await call(t, "GET", `/v1/stats${q}`, undefined, {
    "user-agent": `smsq-cli/${VERSION}`,
  });
  return res.data as StatsBody;
}

interface StatsCliOptions {
  window?: number;
  watch?: number | true;
  json?: boolean;
  url?: string;
  apiKey?: string;
}

/** The `stats` command. */
export function statsCommand(): Command {
  return new Command("stats")
    .description(
      "Show delivery statistics: sends per minute, outcomes, errors, retries, queue and accounts",
    )
    .option("--window <minutes>", "how far back (default 60, at most 1440)", positiveInt(1440))
    .option(
      "--watch [seconds]",
      `refresh every few seconds (default ${DEFAULT_WATCH_SECONDS}) until interrupted`,
      positiveInt(3600),
    )
    .option("--json", "print the API's JSON (one line per refresh with --watch)")
    .option("--url <url>", "smsq API URL (default $SMSQ_URL or http://127.0.0.1:$SMSQ_PORT)")
    .option("--api-key <key>", "API key (default $SMSQ_API_KEY)")
    .action(async (o: StatsCliOptions) => {
      const t = target({ url: o.url, apiKey: o.apiKey });
      const write = (s: string) => process.stdout.write(s + "\n");
      if (o.watch === undefined) {
        try {
          const s = await fetchStats(t, o.window);
          write(o.json ? JSON.stringify(s, null, 2) : renderStats(s));
        } catch (e) {
          process.stderr.write(`smsq: ${(e as Error).message}\n`);
          process.exitCode = 1;
        }
        return;
      }
      const everyMs = (o.watch === true ? DEFAULT_WATCH_SECONDS : o.watch) * 1000;
      const tty = process.stdout.isTTY === true;
      process.on("SIGINT", () => process.exit(0));
      for (;;) {
        const started = Date.now();
        let text: string;
        try {
          const s = await fetchStats(t, o.window);
          text = o.json ? JSON.stringify(s) : renderStats(s);
        } catch (e) {
          // The server may be restarting: say so and keep trying.
          text = `smsq: ${(e as Error).message} (retrying every ${everyMs / 1000} s)`;
        }
        if (o.json) write(text);
        else if (tty) process.stdout.write(`\x1b[H\x1b[2J${text}\n`);
        else write(`${text}\n`);
        await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (Date.now() - started))));
      }
    });
}
