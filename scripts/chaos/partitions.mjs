// Retention by partition against retention by DELETE, measured: the same `message_events` rows
// (smsq's columns and indexes) in a plain table and in a table partitioned by day; then one
// day's rows go, by batched DELETE from the plain table and by DETACH + DROP of the partition.
// Prints time, WAL written and the table's size after each. Used for docs/scaling.md:
//
//   node scripts/chaos/partitions.mjs --days 10 --rows-per-day 200000
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { URL } from "node:url";
import pg from "pg";
import { optionsHelp, readOptions } from "./lib.mjs";

const SPEC = {
  days: 10,
  rowsPerDay: 200_000,
  deleteBatch: 10_000,
  databaseUrl: process.env.SMSQ_TEST_DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres",
};
const opts = readOptions(SPEC);
if (opts.help) {
  console.log(`usage: node scripts/chaos/partitions.mjs [options]\n\n${optionsHelp(SPEC, opts)}`);
  process.exit(0);
}
const name = `smsq_partitions_${randomBytes(4).toString("hex")}`;
const admin = new pg.Client({ connectionString: opts.databaseUrl });
await admin.connect();
await admin.query(`create database ${name}`);
const u = new URL(opts.databaseUrl);
u.pathname = `/${name}`;
const db = new pg.Client({ connectionString: u.toString() });
await db.connect();
const q = (sql, params) => db.query(sql, params);
const mb = (b) => `${(Number(b) / 1048576).toFixed(1)} MB`;
const wal = async () => (await q("select pg_current_wal_lsn() as l")).rows[0].l;
const walSince = async (from) =>
  Number((await q("select pg_wal_lsn_diff(pg_current_wal_lsn(), $1) as d", [from])).rows[0].d);
const size = async (t) =>
  Number((await q(`select pg_total_relation_size('${t}'::regclass) as b`)).rows[0].b);
const partSize = async () =>
  Number(
    (
      await q(
        `select coalesce(sum(pg_total_relation_size(inhrelid)), 0) as b
         from pg_inherits where inhparent = 'events_part'::regclass`,
      )
    ).rows[0].b,
  );

const COLUMNS = `
  id          bigint generated always as identity,
  message_id  text not null,
  at          timestamptz not null default now(),
  type        text not null,
  from_status text,
  to_status   text,
  source      text not null,
  detail      jsonb,
  dedupe_key  text`;
const start = new Date(Date.UTC(2026, 0, 1));
const day = (d) => new Date(start.getTime() + d * 86_400_000).toISOString();

try {
  // The plain table, indexed as smsq's (migrations 0001 and 0011).
  await q(`create table events_plain (${COLUMNS}, primary key (id))`);
  await q("create index on events_plain (message_id, id)");
  await q("create unique index on events_plain (dedupe_key) where dedupe_key is not null");
  await q("create index on events_plain (at)");
  // The partitioned one: the key must be part of every unique index, so the dedupe key is
  // unique per day (a repeated receipt days later would be a second event: acceptable, or
  // checked with a lookup before insert).
  await q(`create table events_part (${COLUMNS}, primary key (id, at)) partition by range (at)`);
  await q("create index on events_part (message_id, id)");
  await q("create unique index on events_part (dedupe_key, at) where dedupe_key is not null");
  await q("create index on events_part (at)");
  for (let d = 0; d < opts.days; d++) {
    await q(
      `create table events_part_${d} partition of events_part
       for values from ('${day(d)}') to ('${day(d + 1)}')`,
    );
  }
  // A day's events: ~4 per message (created, sending → sent, receipt sent, receipt delivered).
  const fill = async (table) => {
    const t = performance.now();
    for (let d = 0; d < opts.days; d++) {
      await q(
        `insert into ${table} (message_id, at, type, from_status, to_status, source, detail, dedupe_key)
         select 'msg_' || lpad(to_hex(g / 4), 26, '0'),
                $1::timestamptz + (g * interval '86399 milliseconds' / $2),
                case g % 4 when 0 then 'created' when 1 then 'status' else 'receipt' end,
                case g % 4 when 1 then 'sending' when 3 then 'sent' end,
                case g % 4 when 0 then 'queued' when 1 then 'sent' when 3 then 'delivered' end,
                case g % 4 when 0 then 'api' when 1 then 'dispatcher' else 'receipt' end,
                case when g % 4 >= 2 then '{"providerStatus": "delivered", "errorCode": null}'::jsonb end,
                case when g % 4 >= 2 then 'twilio:SM' || md5(g::text) || ':' || g % 4 end
         from generate_series($3::bigint, $3::bigint + $2 - 1) g`,
        [day(d), opts.rowsPerDay, d * opts.rowsPerDay],
      );
    }
    await q(`vacuum analyze ${table}`);
    return (performance.now() - t) / 1000;
  };
  const rows = opts.days * opts.rowsPerDay;
  const fp = await fill("events_plain");
  const fq = await fill("events_part");
  console.log(
    `${rows} events over ${opts.days} days: plain ${mb(await size("events_plain"))} (filled in ${fp.toFixed(1)} s), partitioned ${mb(await partSize())} (${fq.toFixed(1)} s)`,
  );

  // Drop the oldest day: batched DELETE through the time index, then VACUUM to reuse the space.
  let w = await wal();
  let t = performance.now();
  let deleted = 0;
  for (;;) {
    const r = await q(
      `delete from events_plain where id in (
         select id from events_plain where at < $1 limit $2)`,
      [day(1), opts.deleteBatch],
    );
    deleted += r.rowCount;
    if (r.rowCount < opts.deleteBatch) break;
  }
  const delMs = performance.now() - t;
  const delWal = await walSince(w);
  t = performance.now();
  await q("vacuum events_plain");
  const vacMs = performance.now() - t;
  console.log(
    `DELETE of one day (${deleted} rows, batches of ${opts.deleteBatch}): ${delMs.toFixed(0)} ms, ${mb(delWal)} WAL; VACUUM ${vacMs.toFixed(0)} ms; table still ${mb(await size("events_plain"))}`,
  );

  w = await wal();
  t = performance.now();
  await q("alter table events_part detach partition events_part_0");
  await q("drop table events_part_0");
  const dropMs = performance.now() - t;
  console.log(
    `DETACH + DROP of one day's partition: ${dropMs.toFixed(0)} ms, ${mb(await walSince(w))} WAL; table now ${mb(await partSize())}`,
  );

  // What the hot path pays: inserting events, plain against partitioned.
  const bench = async (table) => {
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) {
      await q(
        `insert into ${table} (message_id, at, type, to_status, source)
         select 'msg_bench' || g, $1::timestamptz + g * interval '1 millisecond', 'status', 'sent', 'dispatcher'
         from generate_series(1, 50) g`,
        [day(opts.days - 1)],
      );
    }
    return (performance.now() - t0) / 200;
  };
  const ip = await bench("events_plain");
  const iq = await bench("events_part");
  console.log(
    `insert of 50 events (one dispatcher record): plain ${ip.toFixed(2)} ms, partitioned ${iq.toFixed(2)} ms`,
  );
} finally {
  await db.end();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
}
