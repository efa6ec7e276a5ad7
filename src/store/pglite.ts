import { mkdirSync } from "node:fs";
import { PGlite, types, type Transaction } from "@electric-sql/pglite";
import type { Db, Queryable, Row } from "./db.js";

// PGlite hands back int8 as a JS number already; keep numeric and timestamp parsing identical to
// the `pg` engine (see postgres.ts) so the store code sees the same types on both.
const parsers = {
  [types.NUMERIC]: (v: string) => Number(v),
};

function wrap(q: PGlite | Transaction): Queryable {
  return {
    async query<T extends Row>(sql: string, params?: readonly unknown[]) {
      const res = await q.query<T>(sql, params ? [...params] : undefined);
      return res.rows;
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  };
}

/**
 * Opens the embedded store. `dataDir` of null keeps it in memory (tests). PGlite is one session
 * in this process, so the embedded store serves exactly one smsq process.
 */
export async function openPglite(dataDir: string | null): Promise<Db> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const pg = await PGlite.create(dataDir ?? undefined, { parsers });
  const base = wrap(pg);
  return {
    kind: "pglite",
    query: base.query,
    exec: base.exec,
    transaction: <T>(fn: (tx: Queryable) => Promise<T>) => pg.transaction((tx) => fn(wrap(tx))),
    close: () => pg.close(),
  };
}
