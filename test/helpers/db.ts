/**
 * Test stores: every store and dispatcher suite runs on PGlite always, and on a real
 * PostgreSQL when SMSQ_TEST_DATABASE_URL is set. Each PostgreSQL test file gets a database of
 * its own (created here, dropped after), so files run side by side without sharing rows.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach } from "vitest";
import pg from "pg";
import type { Db } from "../../src/store/db.js";
import { migrate } from "../../src/store/migrate.js";
import { openPglite } from "../../src/store/pglite.js";
import { openPostgres } from "../../src/store/postgres.js";

export interface TestStore {
  engine: "pglite" | "postgres";
  db: Db;
  /** The database URL, for the PostgreSQL engine (to start other processes against it). */
  url: string | null;
  /** Empties every table (between tests). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

export const TEST_DATABASE_URL = process.env.SMSQ_TEST_DATABASE_URL || null;

/** The engines to run store suites on. */
export const ENGINES: ("pglite" | "postgres")[] = TEST_DATABASE_URL
  ? ["pglite", "postgres"]
  : ["pglite"];

/** Creates an empty database on the test server and returns its URL. */
export async function createDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!TEST_DATABASE_URL) throw new Error("SMSQ_TEST_DATABASE_URL is not set");
  const name = `smsq_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const u = new URL(TEST_DATABASE_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

const TABLES = [
  "messages",
  "attempts",
  "message_events",
  "idempotency_keys",
  "suppressions",
  "pending_receipts",
  "account_state",
  "rate_limits",
  "maintenance",
];

/** Opens a migrated store on the given engine. */
export async function openTestStore(engine: "pglite" | "postgres"): Promise<TestStore> {
  let db: Db;
  let url: string | null = null;
  let drop: () => Promise<void> = async () => undefined;
  if (engine === "pglite") {
    db = await openPglite(null);
  } else {
    const created = await createDatabase();
    url = created.url;
    drop = created.drop;
    db = await openPostgres(url, { max: 8 });
  }
  await migrate(db);
  return {
    engine,
    db,
    url,
    reset: () => db.exec(`truncate ${TABLES.map((t) => `smsq.${t}`).join(", ")}`),
    close: async () => {
      await db.close();
      await drop();
    },
  };
}

/** Counts rows of every smsq table: to assert that a refused request stored nothing. */
export async function countRows(db: Db): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of TABLES) {
    const rows = await db.query<{ n: number }>(`select count(*)::int as n from smsq.${t}`);
    out[t] = rows[0]?.n ?? -1;
  }
  return out;
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  what = "condition",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The store of the enclosing `describe`: opened before its tests, emptied before each, closed
 * after. Call it first in the block, so later `beforeEach` hooks see an empty store.
 */
export function useTestStore(engine: "pglite" | "postgres"): TestStore {
  let open: TestStore | null = null;
  const get = (): TestStore => {
    if (!open) throw new Error("the test store is open only inside tests and hooks");
    return open;
  };
  beforeAll(async () => {
    open = await openTestStore(engine);
  });
  afterAll(async () => {
    await open?.close();
  });
  beforeEach(async () => {
    await open?.reset();
  });
  return {
    engine,
    get db() {
      return get().db;
    },
    get url() {
      return get().url;
    },
    reset: () => get().reset(),
    close: () => get().close(),
  };
}
