// `npm run bench`: runs the benchmark sections in order (bench/sections/<id>.mjs), each against
// fresh databases and child processes of its own, then writes bench/RESULTS.md and
// bench/RESULTS.json and prints a summary. A section that throws is reported as an error and
// the run goes on; child processes and databases are cleaned up on error and on SIGINT.
//
//   npm run bench                        # every section, full sizes (< 15 min on 2 cores)
//   npm run bench -- --quick             # smaller N: a smoke run
//   npm run bench -- --only dispatch,e2e # some sections
//   SMSQ_BENCH_DATABASE_URL=postgres://… # the PostgreSQL server (default: local)
//   SMSQ_BENCH_REDIS_URL=redis://…       # Redis for BullMQ (default: local)
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL, URL } from "node:url";
import { adminUrl as defaultAdminUrl, createDatabase } from "./lib/db.mjs";
import { describeMachine, loadNow } from "./lib/machine.mjs";
import { killAll } from "./lib/procs.mjs";
import { summary, toMarkdown } from "./lib/report.mjs";

const SECTIONS = ["dispatch", "e2e", "api", "limits", "scale"];
const root = fileURLToPath(new URL("..", import.meta.url));

function parseArgs(argv) {
  const o = { only: null, quick: false, keepLogs: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") o.quick = true;
    else if (a === "--keep-logs") o.keepLogs = true;
    else if (a === "--only") o.only = (argv[++i] ?? "").split(",").filter(Boolean);
    else if (a.startsWith("--only=")) o.only = a.slice(7).split(",").filter(Boolean);
    else if (a === "--help" || a === "-h") o.help = true;
    else throw new Error(`unknown argument ${a} (try --help)`);
  }
  for (const s of o.only ?? []) {
    if (!SECTIONS.includes(s)) {
      throw new Error(`unknown section ${s}: one of ${SECTIONS.join(", ")}`);
    }
  }
  return o;
}

const argv = process.argv.slice(2);
const opts = parseArgs(argv);
if (opts.help) {
  console.log(
    `usage: npm run bench -- [--quick] [--only ${SECTIONS.join(",")}] [--keep-logs]\n` +
      "env: SMSQ_BENCH_DATABASE_URL (PostgreSQL admin URL), SMSQ_BENCH_REDIS_URL",
  );
  process.exit(0);
}

const run = randomBytes(3).toString("hex");
const tmpDir = join(root, ".tmp", "bench", run);
mkdirSync(tmpDir, { recursive: true });
const t0 = Date.now();
const log = (s) => console.log(`[bench ${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}`);
const databases = new Set();
const cleanups = [];

async function cleanup() {
  await killAll();
  for (const fn of cleanups.splice(0).reverse()) {
    await Promise.resolve()
      .then(fn)
      .catch(() => {});
  }
  for (const db of databases) await db.drop().catch(() => undefined);
  databases.clear();
}

let interrupted = false;
process.on("SIGINT", () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  console.error("\nbench: interrupted; cleaning up");
  // Connections of the section still running die with their databases: keep cleaning up.
  process.on("uncaughtException", (e) => console.error(`bench: during clean-up: ${e.message}`));
  void cleanup().finally(() => process.exit(130));
});

const ctx = {
  root,
  run,
  adminUrl: defaultAdminUrl(),
  redisUrl: process.env.SMSQ_BENCH_REDIS_URL || "redis://127.0.0.1:6379",
  quick: opts.quick,
  tmpDir,
  log,
  /** A fresh database on the server; dropped when the run ends (earlier by `drop()`). */
  async createDatabase(tag) {
    const db = await createDatabase(ctx.adminUrl, tag);
    const drop = async () => {
      databases.delete(entry);
      await db.drop();
    };
    const entry = { ...db, drop };
    databases.add(entry);
    return entry;
  },
  /** Registers something to undo at the end of the run, whatever happens. */
  onCleanup: (fn) => cleanups.push(fn),
};

async function loadSection(id) {
  const file = join(root, "bench", "sections", `${id}.mjs`);
  if (!existsSync(file)) return null;
  return import(pathToFileURL(file).href);
}

/** Writes a results file the way `npm run lint` (prettier --check .) expects it. */
async function writePretty(file, text) {
  let out = text;
  try {
    const prettier = await import("prettier");
    const options = (await prettier.resolveConfig(file)) ?? {};
    out = await prettier.format(text, { ...options, filepath: file });
  } catch {
    // prettier is a devDependency: without it the file is written as is.
  }
  writeFileSync(file, out);
}

async function main() {
  const machine = await describeMachine(ctx);
  log(
    `run ${run}: ${machine.cores} cores, load ${machine.loadBefore.join(" ")}, PostgreSQL ${machine.postgres}, Redis ${machine.redis}; logs in ${tmpDir}`,
  );
  const sections = [];
  for (const id of opts.only ?? SECTIONS) {
    if (interrupted) break;
    const mod = await loadSection(id).catch((e) => ({ loadError: e }));
    if (!mod || mod.loadError) {
      const why = mod
        ? `could not load: ${mod.loadError.message}`
        : `bench/sections/${id}.mjs not written yet`;
      sections.push({ id, title: id, skipped: why, targets: [] });
      log(`${id}: skipped (${why})`);
      continue;
    }
    const s0 = Date.now();
    log(`${id}: ${mod.title}`);
    try {
      const r = await mod.run(ctx);
      sections.push({ id, title: mod.title, durationMs: Date.now() - s0, ...r });
      log(`${id}: done in ${((Date.now() - s0) / 1000).toFixed(0)} s`);
    } catch (e) {
      sections.push({
        id,
        title: mod.title,
        durationMs: Date.now() - s0,
        error: String(e?.stack ?? e),
        targets: [],
      });
      log(`${id}: ERROR ${String(e?.message ?? e).split("\n")[0]}`);
    }
    // Whatever a section left running or created goes before the next one starts.
    await cleanup();
  }
  machine.loadAfter = loadNow();
  const command =
    process.env.npm_lifecycle_event === "bench"
      ? `npm run bench${argv.length ? " -- " + argv.join(" ") : ""}`
      : `node bench/run.mjs ${argv.join(" ")}`.trim();
  const result = {
    run,
    command,
    quick: opts.quick,
    durationMs: Date.now() - t0,
    machine,
    sections,
  };
  await writePretty(join(root, "bench", "RESULTS.json"), JSON.stringify(result, null, 2) + "\n");
  await writePretty(join(root, "bench", "RESULTS.md"), toMarkdown(result));
  console.log("\n" + summary(result));
  console.log("wrote bench/RESULTS.md and bench/RESULTS.json");
  const failed = sections.some((s) => s.error);
  // Logs are kept when something went wrong (or when asked), to look at.
  if (!failed && !opts.keepLogs) rmSync(tmpDir, { recursive: true, force: true });
  else console.log(`logs kept in ${tmpDir}`);
  return failed ? 1 : 0;
}

main().then(
  async (code) => {
    await cleanup();
    process.exit(code);
  },
  async (e) => {
    console.error(`bench: ${e?.stack ?? e}`);
    await cleanup();
    process.exit(2);
  },
);
