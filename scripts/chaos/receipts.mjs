// What applying a delivery receipt costs PostgreSQL: one receipt per transaction (as `smsq
// serve` applies each status callback) against 50 to a transaction (as the in-process
// ReceiptBuffer does), on a table of `sent` messages. Prints wall time and the backend's CPU
// time per receipt. Used for docs/scaling.md. After `npm run build`:
//
//   node scripts/chaos/receipts.mjs --messages 20000 --receipts 2000
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { URL } from "node:url";
import pg from "pg";
import { migrate } from "../../dist/store/migrate.js";
import { openPostgres } from "../../dist/store/postgres.js";
import { applyReceipts } from "../../dist/store/receipts.js";
import { optionsHelp, readOptions } from "./lib.mjs";

const SPEC = {
  messages: 20_000,
  receipts: 2000,
  batch: 50,
  databaseUrl: process.env.SMSQ_TEST_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres",
};
const opts = readOptions(SPEC);
if (opts.help) {
  console.log(`usage: node scripts/chaos/receipts.mjs [options]\n\n${optionsHelp(SPEC, opts)}`);
  process.exit(0);
}

/** CPU milliseconds a process has used (user + system; CLK_TCK 100). */
const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const x = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(x[11]) + Number(x[12])) * 10;
};

const name = `smsq_receipts_${randomBytes(4).toString("hex")}`;
const admin = new pg.Client({ connectionString: opts.databaseUrl });
await admin.connect();
await admin.query(`create database ${name}`);
try {
  const u = new URL(opts.databaseUrl);
  u.pathname = `/${name}`;
  const db = await openPostgres(u.toString(), { max: 1 });
  await migrate(db);
  await db.query(
    `insert into smsq.messages (id, api_key_id, to_number, body, segments, encoding, priority,
                                lane, status, run_at, provider, account, provider_message_id)
     select 'msg_' || g, 'k', '+1415' || (2000000 + g), 'hello ' || g, 1, 'GSM-7', 'normal', 1,
            'sent', now(), 'twilio', 'twilio', 'SM' || g
     from generate_series(1, $1::int) g`,
    [opts.messages],
  );
  await db.query("analyze");
  const [{ pid }] = await db.query("select pg_backend_pid() as pid");
  let next = 1;
  for (const [label, batch] of [
    ["one receipt per transaction (smsq serve's webhook)", 1],
    [`${opts.batch} receipts per transaction (ReceiptBuffer)`, opts.batch],
  ]) {
    const c0 = cpuMs(pid);
    const t0 = Date.now();
    for (let i = 0; i < opts.receipts; i += batch) {
      const rs = [];
      for (let j = 0; j < batch; j++, next++) {
        rs.push({
          provider: "twilio",
          providerMessageId: `SM${next}`,
          status: "delivered",
          providerStatus: "delivered",
          dedupeKey: `twilio:SM${next}:delivered`,
        });
      }
      await applyReceipts(db, rs);
    }
    const wall = (Date.now() - t0) / opts.receipts;
    const cpu = (cpuMs(pid) - c0) / opts.receipts;
    console.log(
      `${label}: ${wall.toFixed(3)} ms wall, ${cpu.toFixed(3)} ms PostgreSQL CPU per receipt`,
    );
  }
  await db.close();
} finally {
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
}
