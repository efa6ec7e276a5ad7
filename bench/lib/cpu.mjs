// CPU time of processes, read from /proc (Linux only): a child's own pid, or every process of
// a name (the postmaster's backends are all called `postgres`; redis-server is one process).
// Used to report CPU-seconds per 1,000 messages next to throughput.
import { readdirSync, readFileSync } from "node:fs";
import { clearInterval, setInterval } from "node:timers";
import pg from "pg";
import { cpuSeconds } from "../../scripts/chaos/lib.mjs";

export { cpuSeconds };

/** Pids of every process whose command name (/proc/<pid>/comm) is `name`. */
export function pidsNamed(name) {
  const out = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, "utf8").trim() === name) out.push(Number(d));
    } catch {
      // gone between readdir and read
    }
  }
  return out;
}

/**
 * A CPU meter over a group of processes: `start()` samples, `stop()` samples again and returns
 * the seconds used in between. Processes of the group that end in between count up to their
 * last sample; processes that start in between count from 0 (a new postgres backend).
 */
export function cpuMeter(select) {
  const first = new Map();
  const last = new Map();
  let started = false;
  const sample = () => {
    for (const pid of select()) {
      const c = cpuSeconds(pid);
      if (c === null) continue;
      if (!first.has(pid)) first.set(pid, started ? 0 : c);
      last.set(pid, c);
    }
  };
  return {
    start() {
      sample();
      started = true;
    },
    /** Call now and then during a long run, so that short-lived processes are seen. */
    sample,
    stop() {
      sample();
      let s = 0;
      for (const [pid, c] of last) s += c - (first.get(pid) ?? c);
      return s;
    },
  };
}

/**
 * CPU of the PostgreSQL backends serving `datnames` (client sessions and autovacuum workers).
 * The server's shared writers (WAL writer, checkpointer) are left out: they also work for
 * whatever else the server runs, which on a shared host made the figure swing by 3×. Looked
 * up every 200 ms over a connection of its own (to `url`, left out of the count): a backend
 * that closes counts up to its last sample.
 */
export function postgresMeter(url, datnames) {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => undefined); // its database may be dropped under it
  let pids = [];
  const meter = cpuMeter(() => pids);
  const refresh = async () => {
    const r = await client.query(
      `select pid from pg_stat_activity
       where pid <> pg_backend_pid() and datname = any($1)`,
      [datnames],
    );
    pids = r.rows.map((x) => x.pid);
  };
  let timer = null;
  let busy = null;
  return {
    async start() {
      await client.connect();
      await refresh();
      meter.start();
      timer = setInterval(() => {
        busy ??= refresh()
          .then(meter.sample, () => undefined)
          .finally(() => (busy = null));
      }, 200);
    },
    async stop() {
      clearInterval(timer);
      await busy;
      await refresh();
      await client.end().catch(() => undefined);
      return meter.stop();
    },
  };
}

/** CPU of redis-server (the whole server: BullMQ's queue is its only load in a run). */
export const redisMeter = () => cpuMeter(() => pidsNamed("redis-server"));
/** A meter of fixed pids (child processes we started). */
export const pidsMeter = (pids) => cpuMeter(() => pids);
