// `smsq cleanup` as an operator runs it, on the embedded store: --dry-run prints what it would
// do and changes nothing (the real run that follows does exactly that much), the real run
// reports what it did, and a second dry run finds nothing left.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open.js";
import { silentLog } from "../helpers/log.js";
import { spawnSmsq } from "../helpers/proc.js";

async function run(args: string[], env: Record<string, string>) {
  const p = spawnSmsq(["cleanup", ...args], env);
  const code = await p.exited;
  return { code, out: p.output() };
}

describe("smsq cleanup", () => {
  const dir = mkdtempSync(join(tmpdir(), "smsq-cleanup-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = { SMSQ_DATA_DIR: dir };

  it("--dry-run counts and changes nothing; the run does exactly that; nothing is left", async () => {
    const db = await openStore({ databaseUrl: null, dataDir: dir }, silentLog);
    // 3 delivered 40 days ago (bodies to redact), 1 delivered yesterday, 1 queued 100 days
    // old; 2 attempts and 2 events 100 days old, 1 of each from yesterday.
    await db.query(
      `insert into smsq.messages (id, api_key_id, to_number, body, segments, encoding, priority,
         lane, status, run_at, created_at, sent_at, completed_at)
       select 'msg_' || i, 'k', '+14155550100', 'hello', 1, 'GSM-7', 'normal', 1,
              case when i = 5 then 'queued' else 'delivered' end,
              now() - d, now() - d, now() - d,
              case when i = 5 then null else now() - d end
       from (select i, case when i <= 3 then interval '40 days' when i = 4 then interval '1 day'
                            else interval '100 days' end as d
             from generate_series(1, 5) i) s`,
    );
    await db.query(
      `insert into smsq.attempts (message_id, attempt, provider, account, outcome, started_at,
         finished_at)
       select 'msg_1', i, 'sandbox', 'sandbox', 'accepted', now() - d, now() - d
       from (values (1, interval '100 days'), (2, interval '100 days'), (3, interval '1 day'))
         v(i, d)`,
    );
    await db.query(
      `insert into smsq.message_events (message_id, at, type, source)
       select 'msg_1', now() - d, 'status', 'dispatcher'
       from (values (interval '100 days'), (interval '100 days'), (interval '1 day')) v(d)`,
    );
    await db.close();

    const dry = await run(["--dry-run"], env);
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(
      /^dry run: bodies redacted after 30 days; attempts and events deleted after 90 days; final messages kept$/m,
    );
    expect(dry.out).toMatch(/^would redact 3 message bodies/m);
    expect(dry.out).toMatch(/^would delete 2 attempts and 2 events/m);
    expect(dry.out).toMatch(/^would delete 0 final messages/m);

    const done = await run(["--json", "--batch-size", "2"], env);
    expect(done.code).toBe(0);
    const result = JSON.parse(done.out) as Record<string, unknown>;
    expect(result).toMatchObject({
      dryRun: false,
      bodies: 3,
      attempts: 2,
      events: 2,
      messages: 0,
      complete: true,
    });
    // Batches of 2: bodies 2 + 1, attempts 2 + 0, events 2 + 0.
    expect(result.batches).toBe(6);

    const after = await run(["--dry-run", "--json"], env);
    expect(JSON.parse(after.out)).toMatchObject({ bodies: 0, attempts: 0, events: 0 });

    // Retention switched off: nothing to do, and it says so.
    const off = await run([], {
      ...env,
      SMSQ_RETAIN_BODIES_DAYS: "0",
      SMSQ_RETAIN_HISTORY_DAYS: "0",
    });
    expect(off.code).toBe(0);
    expect(off.out).toMatch(/keeps everything/);
  }, 120_000);
});
