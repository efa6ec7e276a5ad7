// Throwaway databases for benchmark sections: each section gets a fresh database on the
// PostgreSQL server at `adminUrl`, dropped (with force) when it is done.
import { randomBytes } from "node:crypto";
import { URL } from "node:url";
import pg from "pg";

/** The admin URL benchmarks use: SMSQ_BENCH_DATABASE_URL, else the tests' URL, else local. */
export function adminUrl(env = process.env) {
  return (
    env.SMSQ_BENCH_DATABASE_URL ||
    env.SMSQ_TEST_DATABASE_URL ||
    "postgres://postgres@127.0.0.1:5432/postgres"
  );
}

async function admin(url, sql) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Creates an empty database `smsq_bench_<tag>_<random>`; `drop()` removes it. */
export async function createDatabase(url = adminUrl(), tag = "x") {
  const name = `smsq_bench_${tag.replace(/[^a-z0-9]/g, "")}_${randomBytes(3).toString("hex")}`;
  await admin(url, `create database ${name}`);
  const u = new URL(url);
  u.pathname = `/${name}`;
  return {
    name,
    url: u.toString(),
    drop: () => admin(url, `drop database if exists ${name} with (force)`),
  };
}

/** Drops databases a killed run left behind (names start with smsq_bench_). */
export async function dropLeftovers(url = adminUrl()) {
  const r = await admin(url, `select datname from pg_database where datname like 'smsq_bench_%'`);
  for (const row of r.rows) await admin(url, `drop database if exists ${row.datname} with (force)`);
  return r.rows.length;
}

/** The server's version string, for the results file. */
export async function serverVersion(url = adminUrl()) {
  return (await admin(url, "show server_version")).rows[0].server_version;
}
