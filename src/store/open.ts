/** Opens the store the configuration names: a PostgreSQL server, or the embedded PGlite. */
import type { Logger } from "../log.js";
import type { Db } from "./db.js";
import { migrate } from "./migrate.js";
import { openPglite } from "./pglite.js";
import { openPostgres } from "./postgres.js";

export interface StoreConfig {
  databaseUrl: string | null;
  /** Embedded store directory; null keeps it in memory. */
  dataDir: string | null;
}

/** Opens the store and applies pending migrations. */
export async function openStore(
  c: StoreConfig,
  log: Logger,
  opts: { migrate?: boolean } = {},
): Promise<Db> {
  const db = c.databaseUrl
    ? await openPostgres(c.databaseUrl, {
        onError: (err) => log.warn({ err: err.message }, "idle database connection lost"),
      })
    : await openPglite(c.dataDir);
  if (opts.migrate !== false) {
    try {
      const applied = await migrate(db);
      if (applied.length > 0) log.info({ applied }, "migrations applied");
    } catch (e) {
      await db.close().catch(() => undefined);
      throw e;
    }
  }
  return db;
}
