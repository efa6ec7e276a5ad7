import pg from "pg";
import { CommitUnknownError, isUnavailableError, type Db, type Queryable, type Row } from "./db.js";

// `pg` returns int8 and numeric as strings; our counters fit in a double, and PGlite returns
// numbers, so parse them here and the store code sees one set of types.
const typeParsers = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
};

export interface PostgresOptions {
  /** Pool size; each worker process needs few connections (one claim, one record, the API). */
  max?: number;
  onError?: (err: Error) => void;
  /** Client-side limit on one statement (default 20 s). */
  queryTimeoutMs?: number;
}

/** Opens a pool against a PostgreSQL server. It reconnects by itself after an outage. */
export async function openPostgres(url: string, opts: PostgresOptions = {}): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
    types: typeParsers,
    application_name: "smsq",
    // A statement whose connection silently died (seen in the outage test under load: a record
    // that never answered) must fail and be retried, not hang its worker forever.
    query_timeout: opts.queryTimeoutMs ?? 20_000,
    keepAlive: true,
  });
  // An idle client losing its connection emits here; without a listener the process would die.
  pool.on("error", (err) => opts.onError?.(err));

  const q = (c: pg.Pool | pg.PoolClient): Queryable => ({
    async query<T extends Row>(sql: string, params?: readonly unknown[]) {
      const res = await c.query<T>(sql, params ? [...params] : undefined);
      return res.rows;
    },
    async exec(sql: string) {
      await c.query(sql);
    },
  });
  const base = q(pool);
  return {
    kind: "postgres",
    query: base.query,
    exec: base.exec,
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      let broken = false;
      // A connection that dies between two statements of the transaction emits 'error' on the
      // checked-out client, which the pool does not listen to while it is lent out: without
      // this listener the process would crash. The failing statement rejects as usual.
      const onError = () => {
        broken = true;
      };
      client.on("error", onError);
      try {
        await client.query("begin");
        const out = await fn(q(client));
        try {
          await client.query("commit");
        } catch (e) {
          // Sent, but no answer: the server may have committed before the connection broke.
          throw isUnavailableError(e) ? new CommitUnknownError(e) : e;
        }
        return out;
      } catch (e) {
        try {
          await client.query("rollback");
        } catch {
          broken = true; // the connection is gone; do not return it to the pool
        }
        throw e;
      } finally {
        client.off("error", onError);
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}
