import { afterAll, describe, expect, it } from "vitest";
import { isSmsqError } from "../../src/errors.js";
import {
  latestMigration,
  loadMigrations,
  migrate,
  schemaVersion,
} from "../../src/store/migrate.js";
import { openPglite } from "../../src/store/pglite.js";
import { openPostgres } from "../../src/store/postgres.js";
import { createDatabase, TEST_DATABASE_URL } from "../helpers/db.js";

describe("migrations on PGlite", () => {
  it("apply once, report the version, and refuse a newer database", async () => {
    const db = await openPglite(null);
    try {
      expect(await schemaVersion(db)).toBe(0);
      const first = await migrate(db);
      expect(first).toEqual(loadMigrations().map((m) => m.name));
      expect(await migrate(db)).toEqual([]);
      expect(await schemaVersion(db)).toBe(latestMigration());
      await db.query("insert into smsq.migrations (id, name) values (9999, '9999_future')");
      const err = await migrate(db).catch((e: unknown) => e);
      expect(isSmsqError(err) && err.message).toMatch(/newer than this smsq/);
    } finally {
      await db.close();
    }
  });

  it("roll back a failing migration whole, ledger row included", async () => {
    const db = await openPglite(null);
    try {
      const good = loadMigrations();
      const bad = [
        ...good,
        { id: 9000, name: "9000_broken", sql: "create table smsq.x (a int); select nope;" },
      ];
      await expect(migrate(db, bad)).rejects.toThrow();
      expect(await schemaVersion(db)).toBe(latestMigration());
      const t = await db.query<{ t: string | null }>("select to_regclass('smsq.x')::text as t");
      expect(t[0]?.t).toBeNull();
    } finally {
      await db.close();
    }
  });
});

describe.skipIf(!TEST_DATABASE_URL)("migrations on PostgreSQL", () => {
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of drops) await d();
  });

  it("apply each migration exactly once when six processes start at once", async () => {
    const { url, drop } = await createDatabase();
    drops.push(drop);
    const dbs = await Promise.all(Array.from({ length: 6 }, () => openPostgres(url, { max: 2 })));
    try {
      const applied = await Promise.all(dbs.map((db) => migrate(db)));
      const all = applied.flat();
      expect(all.sort()).toEqual(
        loadMigrations()
          .map((m) => m.name)
          .sort(),
      );
      const rows = await dbs[0]!.query<{ n: number }>(
        "select count(*)::int as n from smsq.migrations",
      );
      expect(rows[0]?.n).toBe(loadMigrations().length);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });
});
