// A transaction whose connection breaks while COMMIT is in flight may have committed: the store
// says so (CommitUnknownError), and the API's 503 no longer claims that nothing was stored.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SmsqError } from "../../src/errors.js";
import {
  CommitUnknownError,
  isUnavailableError,
  toStoreError,
  type Db,
} from "../../src/store/db.js";
import { migrate } from "../../src/store/migrate.js";
import { openPostgres } from "../../src/store/postgres.js";
import { createDatabase, TEST_DATABASE_URL } from "../helpers/db.js";

describe.skipIf(!TEST_DATABASE_URL)("a connection lost at COMMIT (postgres)", () => {
  let db: Db;
  let admin: Db;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const created = await createDatabase();
    drop = created.drop;
    db = await openPostgres(created.url, { max: 2 });
    admin = await openPostgres(created.url, { max: 1 });
    await migrate(db);
  });
  afterAll(async () => {
    await db?.close();
    await admin?.close();
    await drop?.();
  });

  it("is reported as CommitUnknownError, unavailable, with a 503 that says it may be stored", async () => {
    const e = await db
      .transaction(async (tx) => {
        const [me] = await tx.query<{ pid: number }>("select pg_backend_pid() as pid");
        await tx.query(
          "insert into smsq.suppressions (phone, reason, source) values ('+14155550100', 'test', 'api')",
        );
        // The server ends this session before COMMIT gets an answer.
        await admin.query("select pg_terminate_backend($1)", [me?.pid]);
      })
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect(e).toBeInstanceOf(CommitUnknownError);
    expect(isUnavailableError(e)).toBe(true);
    const answer = toStoreError(e);
    expect(answer).toBeInstanceOf(SmsqError);
    expect(answer).toMatchObject({ code: "store_unavailable", status: 503 });
    expect((answer as SmsqError).message).toMatch(/may have been stored.*Idempotency-Key/);
    // The pool is usable again at once.
    expect(await db.query("select 1 as one")).toEqual([{ one: 1 }]);
  });

  it("leaves a failure before COMMIT as a plain outage: nothing was stored", async () => {
    const plain = toStoreError(
      Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
    );
    expect((plain as SmsqError).message).toMatch(/nothing was stored/);
  });
});
