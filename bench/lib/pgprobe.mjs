// Where a claim's time goes, on the server: its statements' own execution time (auto_explain on a
// session of its own, LOG messages sent to the client), the plan of its due-message selection,
// and a durable one-row commit on its own (the WAL flush every write transaction waits for).
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { dueCtes } from "../../dist/store/dispatch.js";
import { pct } from "./probe.mjs";

// Runs claims on a session of their own with auto_explain (LOG messages sent to this client),
// summing each claim's statement durations; then times a durable one-row insert on its own.
export async function serverSide(url, makeClaimers, refill) {
  const own = new pg.Client({ connectionString: url });
  await own.connect();
  let durations = [];
  let slowest = { ms: 0, text: "" };
  own.on("notice", (m) => {
    const d = /^duration: ([\d.]+) ms/.exec(m.message);
    if (!d) return;
    durations.push(Number(d[1]));
    if (Number(d[1]) > slowest.ms) slowest = { ms: Number(d[1]), text: m.message };
  });
  const q = async (sql, params) => (await own.query(sql, params)).rows;
  const db = {
    kind: "postgres",
    query: q,
    exec: async (sql) => void (await own.query(sql)),
    async transaction(fn) {
      await own.query("begin");
      try {
        const r = await fn({ query: q, exec: async (sql) => void (await own.query(sql)) });
        await own.query("commit");
        return r;
      } catch (e) {
        await own.query("rollback");
        throw e;
      }
    },
  };
  const out = {};
  try {
    for (const sql of [
      "load 'auto_explain'",
      "set auto_explain.log_min_duration = 0",
      "set auto_explain.log_analyze = on",
      "set auto_explain.log_timing = off",
      "set client_min_messages = log",
    ]) {
      await own.query(sql);
    }
    for (const [kind, claim] of Object.entries(makeClaimers(db))) {
      const per = [];
      for (let i = 0; i < 43; i++) {
        durations = [];
        await claim();
        if (i >= 3) per.push(durations.reduce((a, b) => a + b, 0));
        await refill();
        await sleep(6);
      }
      out[kind] = { p50: pct(per, 50), p99: pct(per, 99) };
    }
    await own.query("set client_min_messages = warning");
    await own.query("create table if not exists public.bench_commit (x int)");
    const commits = [];
    for (let i = 0; i < 100; i++) {
      const s = performance.now();
      await own.query("insert into public.bench_commit values (1)");
      commits.push(performance.now() - s);
    }
    out.commit = { p50: pct(commits, 50), p99: pct(commits, 99) };
    out.slowest = slowest.text;
  } finally {
    await own.end();
  }
  return out;
}

export async function explainClaim(c, batch) {
  const sql = `${dueCtes({ limit: 1, accounts: 2, providers: 3, positions: 4, probe: 5, prefixes: 6, anyPrefix: 7, lane: 8 })}
    select c.id from chosen c`;
  await c.query("begin");
  try {
    const r = await c.query(`explain (analyze, buffers) ${sql}`, [
      batch,
      ["twilio"],
      ["twilio"],
      [0],
      false,
      [""],
      false,
      null,
    ]);
    const lines = r.rows.map((x) => x["QUERY PLAN"]);
    const exec = lines.find((l) => l.startsWith("Execution Time"));
    const scanAt = lines.findIndex((l) => /Scan .*on messages/.test(l));
    const scan =
      scanAt >= 0 ? lines[scanAt].trim().replace(/\s+\(cost=[^)]*\)/, "") : "no scan of messages";
    const buffers =
      lines
        .slice(scanAt + 1)
        .find((l) => /Buffers:/.test(l))
        ?.trim() ?? "";
    return {
      lines,
      execMs: Number(/([\d.]+) ms/.exec(exec ?? "")?.[1] ?? NaN),
      scan: `${scan}; ${buffers}`,
    };
  } finally {
    await c.query("rollback");
  }
}
