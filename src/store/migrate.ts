/**
 * Applies the numbered SQL migrations in `migrations/`, in order, each in its own transaction
 * under a transaction-level advisory lock, so several processes starting at once apply each
 * migration exactly once. The ledger row is inserted first, so a concurrent run that got past
 * the lock by another path fails on the primary key instead of applying the script twice.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { SmsqError } from "../errors.js";
import type { Db } from "./db.js";

// Any constant shared by all smsq processes; "smsq" in ASCII.
const MIGRATION_LOCK = 0x736d7371;

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

const DIR = fileURLToPath(new URL("../../migrations/", import.meta.url));

/** The migrations shipped with this version of smsq, in order. */
export function loadMigrations(dir: string = DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({
      id: Number(f.slice(0, 4)),
      name: f.replace(/\.sql$/, ""),
      sql: readFileSync(dir + f, "utf8"),
    }));
}

const LEDGER = `
  create schema if not exists smsq;
  create table if not exists smsq.migrations (
    id         integer primary key,
    name       text not null,
    applied_at timestamptz not null default now()
  )`;

/** Applies every pending migration; returns the names applied. Refuses a newer database. */
export async function migrate(
  db: Db,
  migrations: Migration[] = loadMigrations(),
): Promise<string[]> {
  const latest = migrations.at(-1)?.id ?? 0;
  const applied: string[] = [];
  for (const m of migrations) {
    const done = await db.transaction(async (tx) => {
      await tx.query("select pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      await tx.exec(LEDGER);
      const rows = await tx.query<{ max: number | null }>(
        "select max(id) as max from smsq.migrations",
      );
      const current = rows[0]?.max ?? 0;
      if (current > latest) {
        throw new SmsqError(
          "config_invalid",
          `the database schema is at migration ${current}, newer than this smsq (${latest}); upgrade smsq`,
        );
      }
      if (current >= m.id) return false;
      await tx.query("insert into smsq.migrations (id, name) values ($1, $2)", [m.id, m.name]);
      await tx.exec(m.sql);
      return true;
    });
    if (done) applied.push(m.name);
  }
  return applied;
}

/** The id of the newest migration applied, or 0 for an empty database. */
export async function schemaVersion(db: Db): Promise<number> {
  // Two statements: a query naming a missing table fails at parse time, whatever its CASE says.
  const exists = await db.query<{ t: string | null }>(
    "select to_regclass('smsq.migrations')::text as t",
  );
  if (!exists[0]?.t) return 0;
  const rows = await db.query<{ v: number | null }>("select max(id) as v from smsq.migrations");
  return Number(rows[0]?.v ?? 0);
}

/** The id of the newest migration this version ships. */
export function latestMigration(): number {
  return loadMigrations().at(-1)?.id ?? 0;
}
