// What the results depend on: the host (cores, CPU model, memory, load) and the versions of
// everything measured (Node, PostgreSQL, Redis, pg-boss, BullMQ, smsq's commit).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { serverVersion } from "./db.mjs";

const pkgVersion = (root, name) => {
  try {
    return JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8"))
      .version;
  } catch {
    return "not installed";
  }
};

const git = (root, args) => {
  try {
    return execFileSync("git", args, { cwd: root, encoding: "utf8" }).trim();
  } catch {
    return null;
  }
};

async function redisVersion(url) {
  try {
    const { default: Redis } = await import("ioredis");
    const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await r.connect();
    const info = await r.info("server");
    await r.quit();
    return /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown";
  } catch (e) {
    return `unreachable (${e.message})`;
  }
}

/** The host and the versions, read once at the start of a run. */
export async function describeMachine({ root, adminUrl, redisUrl }) {
  const cpus = os.cpus();
  const dirty = git(root, ["status", "--porcelain", "--", "src", "migrations"]);
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    ramGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    loadBefore: os.loadavg().map((x) => +x.toFixed(2)),
    node: process.version,
    postgres: await serverVersion(adminUrl).catch((e) => `unreachable (${e.message})`),
    redis: await redisVersion(redisUrl),
    pgBoss: pkgVersion(root, "pg-boss"),
    bullmq: pkgVersion(root, "bullmq"),
    commit: git(root, ["rev-parse", "--short", "HEAD"]) ?? "unknown",
    // The main engineer benchmarks uncommitted work too: say so next to the commit.
    srcDirty: dirty ? dirty.split("\n").length : 0,
    date: new Date().toISOString(),
  };
}

export const loadNow = () => os.loadavg().map((x) => +x.toFixed(2));
