// Fast seeding of smsq's real tables for the scale benchmarks: every row is made by PostgreSQL
// itself (INSERT … SELECT from generate_series), so nothing crosses the wire but the statement,
// and ids, statuses and times are computed from the row number. Ids keep the real format
// (msg_ + 10 Crockford base32 characters of creation time + 16 more), because the stats query
// bounds `sent` messages by id (lowestIdAt) and the primary key's insert pattern follows them.
import pg from "pg";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// The 10-character ULID time prefix of the bigint SQL expression `ms`, as src/messages/ids.ts
// encodes it (written out, not a function, so it costs no function call per row).
const ulidTime = (ms) =>
  Array.from(
    { length: 10 },
    (_, i) => `substr('${ALPHABET}', ((${ms} >> ${5 * (9 - i)}) & 31)::int + 1, 1)`,
  ).join(" || ");

// A message id for creation time `ms` and row number `g`: hex digits are Crockford characters,
// so the 16-character tail is valid and unique per row.
const idSql = (ms, g, tag) =>
  `'msg_' || ${ulidTime(ms)} || '${tag}' || upper(lpad(to_hex(${g}), ${16 - tag.length}, '0'))`;

// The history's mix of final statuses, by share in 10,000 (as bench/stats.mjs): status,
// provider calls, last error code and class. Row g gets k = the bucket its hash falls in.
const MIX = [
  ["delivered", 8700, 1, null, null],
  ["delivered", 400, 2, "20500", "transient"],
  ["undelivered", 300, 1, "30003", "transient"],
  ["failed", 200, 1, "21211", "recipient_permanent"],
  ["failed", 100, 3, "20500", "transient"],
  ["sent", 150, 1, null, null],
  ["expired", 50, 0, "expired", null],
  ["canceled", 50, 0, null, null],
  ["suppressed", 50, 0, null, null],
];
const arr = (i, type) =>
  `(array[${MIX.map((m) => (m[i] === null ? "null" : typeof m[i] === "number" ? m[i] : `'${m[i]}'`)).join(",")}]::${type}[])`;
const bucketCase = (() => {
  let acc = 0;
  const arms = MIX.map((m, k) => `when h < ${(acc += m[1])} then ${k + 1}`);
  return `case ${arms.join(" ")} else 1 end`;
})();

// Row g of a history range: created at $3 + (g - $1) * $4 ms; its mix bucket k.
const HISTORY_ROWS = `
  from generate_series($1::bigint, $2::bigint) g,
  lateral (select ($3::float8 + (g - $1) * $4::float8)::bigint as ms,
                  (g * 2654435761) % 10000 as h) a,
  lateral (select ${bucketCase} as k, to_timestamp(ms * 0.001::float8) as created) b,
  lateral (select ${arr(0, "text")}[k] as status, ${arr(2, "int")}[k] as attempts,
                  ${arr(3, "text")}[k] as code, ${arr(4, "text")}[k] as cls) c`;

/** A client for seeding: commits without waiting for the disk, big sort memory for indexes. */
export async function seedClient(url) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  // Session only: the server's durability settings stay as they are for smsq itself.
  await c.query("set synchronous_commit = off");
  await c.query("set maintenance_work_mem = '512MB'");
  await c.query("set work_mem = '64MB'");
  // The row estimates of generate_series are far off; JIT compiling took 2 s per statement.
  await c.query("set jit = off");
  return c;
}

/**
 * Messages g = first … first + count - 1 in final (or `sent`) statuses, created evenly from
 * `fromMs` to `toMs`, with one attempt row per provider call. In chunks, taken by `clients`
 * side by side (one INSERT runs on one core; two sessions use both).
 */
export async function seedHistory(clients, { first, count, fromMs, toMs, chunk = 250_000 }) {
  const step = (toMs - fromMs) / count;
  const chunks = [];
  for (let off = 0; off < count; off += chunk) {
    chunks.push([first + off, first + Math.min(count, off + chunk) - 1, fromMs + off * step]);
  }
  const one = async (c) => {
    for (let next = chunks.shift(); next; next = chunks.shift()) {
      const [lo, hi, from] = next;
      // One statement for both tables: the attempts come from the messages' RETURNING, so each
      // row's id (the costliest expression) is computed once.
      await c.query(
        `with m as (
           insert into smsq.messages (id, api_key_id, to_number, body, segments, encoding,
             priority, lane, status, run_at, attempts, last_error_code, last_error_class,
             provider, account, provider_message_id, created_at, updated_at, sent_at,
             completed_at)
           select ${idSql("ms", "g", "H")}, 'key_bench',
                  '+1415' || lpad((2000000 + g % 7000000)::text, 7, '0'),
                  'Your appointment is tomorrow at 9:00', 1, 'GSM-7',
                  (array['high', 'normal', 'low'])[1 + (g % 10 > 0)::int + (g % 10 > 7)::int],
                  ((g % 10 > 0)::int + (g % 10 > 7)::int)::smallint, status,
                  created + attempts * interval '30 seconds', attempts, code, cls,
                  case when attempts > 0 then 'twilio' end,
                  case when attempts > 0 then 'twilio' end,
                  case when status in ('delivered', 'undelivered', 'sent')
                       then 'SM' || lpad(to_hex(g), 32, '0') end,
                  created, created,
                  case when status in ('delivered', 'undelivered', 'sent')
                       then created + attempts * interval '30 seconds' end,
                  case when status in ('delivered', 'undelivered')
                         then created + attempts * interval '30 seconds' + interval '5 seconds'
                       when status in ('failed', 'expired', 'canceled', 'suppressed')
                         then created + greatest(attempts, 1) * interval '30 seconds' end
           ${HISTORY_ROWS}
           returning id, status, attempts, last_error_code as code,
                     last_error_class as cls, provider_message_id as pid, created_at as created
         )
         insert into smsq.attempts (message_id, attempt, provider, account, worker_id, outcome,
           provider_message_id, error_code, error_class, started_at, finished_at, latency_ms)
         select id, n, 'twilio', 'twilio', 'bench',
                case when n < attempts or status = 'failed' then 'failed' else 'accepted' end,
                case when n = attempts then pid end,
                case when n < attempts then '20500' when status = 'failed' then code end,
                case when n < attempts then 'transient' when status = 'failed' then cls end,
                created + (n - 1) * interval '30 seconds',
                created + (n - 1) * interval '30 seconds' + interval '180 milliseconds', 180
         from m, generate_series(1, attempts) n`,
        [lo, hi, from, step],
      );
    }
  };
  await Promise.all(clients.map(one));
}

// Partial indexes that hold few history rows stay in place: keeping them costs a predicate test
// per row, while rebuilding one would scan the whole table again.
const SELECTIVE = [
  "messages_due_idx",
  "messages_scheduled_idx",
  "messages_leases_idx",
  "messages_validity_idx",
  "messages_failed_completed_idx",
  "messages_undelivered_idx",
  "messages_queued_key_idx",
  "attempts_retry_idx",
];

/**
 * Runs `fn` (a bulk load) with the primary keys and wide indexes of smsq.messages and
 * smsq.attempts dropped (not the SELECTIVE ones), then builds them again from their own
 * definitions (pg_get_indexdef), `clients` side by side: building an index over the loaded rows
 * is a sort, several times cheaper than maintaining it row by row. Returns the seconds spent
 * building.
 */
export async function withoutIndexes(clients, fn) {
  const [c] = clients;
  const { rows } = await c.query(
    `select t.relname as tab, i.relname as name, pg_get_indexdef(i.oid) as def,
            con.conname, pg_relation_size(t.oid) as size
     from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid
     join pg_namespace n on n.oid = t.relnamespace
     left join pg_constraint con on con.conindid = i.oid and con.contype = 'p'
     where n.nspname = 'smsq' and t.relname in ('messages', 'attempts')
       and not i.relname = any($1::text[])`,
    [SELECTIVE],
  );
  for (const r of rows) {
    await c.query(
      r.conname
        ? `alter table smsq.${r.tab} drop constraint ${r.conname}`
        : `drop index smsq.${r.name}`,
    );
  }
  await fn();
  const t0 = Date.now();
  // Biggest first, so the two sessions finish close together.
  const todo = rows.map((r) => ({ ...r, w: r.conname || /_to_|_status_|pkey/.test(r.name) }));
  todo.sort((a, b) => Number(b.w) - Number(a.w));
  const one = async (cl) => {
    for (let r = todo.shift(); r; r = todo.shift()) {
      await cl.query(r.def);
      if (r.conname) {
        await cl.query(
          `alter table smsq.${r.tab} add constraint ${r.conname} primary key using index ${r.name}`,
        );
      }
    }
  };
  await Promise.all(clients.map(one));
  return (Date.now() - t0) / 1000;
}

/**
 * Waiting messages, created over the `spanMs` before `nowMs` (ten minutes): `due` queued and due now,
 * `retrying` queued for a retry a minute from now, `scheduled` for later, `sending` in flight.
 * `tag` (one letter) and `first` (row numbers from) keep their ids apart from other batches';
 * returns the next free row number.
 */
export async function seedQueue(
  c,
  nowMs,
  { due = 0, retrying = 0, scheduled = 0, sending = 0, tag = "Q", body = "queued", first = 1 },
  spanMs = 600_000,
) {
  const parts = [
    ["queued", due, "ms", 0],
    ["queued", retrying, "ms + 3600000", 1],
    ["scheduled", scheduled, "ms + 60000 * (1 + g % 60)", 0],
    ["sending", sending, "ms", 1],
  ];
  let g0 = first;
  for (const [status, n, runAt, attempts] of parts) {
    if (n <= 0) continue;
    await c.query(
      `insert into smsq.messages (id, api_key_id, to_number, body, segments, encoding, priority,
         lane, status, run_at, attempts, created_at, updated_at, lease_owner, lease_expires_at)
       select ${idSql("ms", "g", tag)}, 'key_bench',
              '+1415' || lpad((2000000 + g % 7000000)::text, 7, '0'), $5, 1, 'GSM-7',
              (array['high', 'normal', 'low'])[1 + (g % 3)::int], (g % 3)::smallint, $4,
              to_timestamp((${runAt}) * 0.001::float8), ${attempts},
              to_timestamp(ms * 0.001::float8), to_timestamp(ms * 0.001::float8),
              case when $4 = 'sending' then 'bench' end,
              case when $4 = 'sending' then to_timestamp(ms * 0.001::float8) + interval '2 minutes' end
       from generate_series($1::bigint, $2::bigint) g,
       lateral (select ($3::float8 - $6 + (g - $1) * ($6::float8 / ($2 - $1 + 1)))::bigint
                  as ms) a`,
      [g0, g0 + n - 1, nowMs, status, body, spanMs],
    );
    g0 += n;
  }
  return g0;
}

/** The server's clock (ms): rows are stamped with it, and claims compare against it. */
export async function dbNow(c) {
  const r = await c.query("select (extract(epoch from now()) * 1000)::float8 as ms");
  return Number(r.rows[0].ms);
}

/** Sizes for the report: rows and the table with its indexes. */
export async function tableSizes(c) {
  const r = await c.query(
    `select (select count(*) from smsq.messages)::int8 as messages,
            (select count(*) from smsq.attempts)::int8 as attempts,
            pg_total_relation_size('smsq.messages')::int8 as mbytes,
            pg_total_relation_size('smsq.attempts')::int8 as abytes,
            pg_relation_size('smsq.messages_due_idx')::int8 as duebytes`,
  );
  return Object.fromEntries(Object.entries(r.rows[0]).map(([k, v]) => [k, Number(v)]));
}
