// Helpers for the chaos run (scripts/chaos/run.mjs): options, a seeded random source, child
// processes with their output in log files, and the callback proxy between the simulator and
// `smsq serve` that counts duplicate and out-of-order status callbacks.
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import http from "node:http";
import { clearTimeout, setTimeout } from "node:timers";
import { fileURLToPath, URL, URLSearchParams } from "node:url";

export const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

/** The simulator's default Twilio account (DEFAULT_TWILIO_ACCOUNT in src/simulator/index.ts). */
export const SIM_SID = "AC00000000000000000000000000000000";
export const SIM_TOKEN = "simulator-auth-token";

/** `smsq simulate` arguments: a free port, the default account, `behaviour`, then `extra`. */
export function simulatorArgs(behaviour = {}, extra = []) {
  return [
    "simulate",
    "--port",
    "0",
    "--twilio-account",
    `${SIM_SID}:${SIM_TOKEN}`,
    ...extra,
    "--behaviour",
    JSON.stringify(behaviour),
  ];
}

/** The URL a spawned simulator listens on, once it says so. */
export async function simulatorUrl(child) {
  return (await child.waitFor(/listening on (http:\/\/\S+)/))[1];
}

/**
 * Options from flags (`--messages 1500` or `--messages=1500`) and the environment
 * (`CHAOS_MESSAGES=1500`); flags win. `spec` maps each option to its default (a number, a
 * string or a boolean, which decides how the value is read).
 */
export function readOptions(spec, argv = process.argv.slice(2), env = process.env) {
  const out = { ...spec };
  const kebab = (k) => k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
  const envName = (k) => "CHAOS_" + kebab(k).replace(/-/g, "_").toUpperCase();
  const set = (k, raw, where) => {
    const d = spec[k];
    if (typeof d === "number") {
      const n = Number(raw);
      if (!Number.isFinite(n)) throw new Error(`${where}: a number expected, got ${raw}`);
      out[k] = n;
    } else if (typeof d === "boolean") {
      out[k] = raw === "" || raw === "1" || raw === "true" || raw === "yes";
    } else {
      out[k] = raw;
    }
  };
  for (const k of Object.keys(spec)) {
    const v = env[envName(k)];
    if (v !== undefined && v !== "") set(k, v, envName(k));
  }
  const byFlag = new Map(Object.keys(spec).map((k) => [kebab(k), k]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") {
      out.help = true;
      continue;
    }
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(a);
    const key = m ? byFlag.get(m[1]) : undefined;
    if (!m || !key) throw new Error(`unknown argument ${a}`);
    let raw = m[2];
    if (raw === undefined) {
      if (typeof spec[key] === "boolean") raw = "true";
      else raw = argv[++i] ?? "";
    }
    set(key, raw, `--${m[1]}`);
  }
  return out;
}

/** The help text: every option with its flag, variable and value. */
export function optionsHelp(spec, values) {
  const kebab = (k) => k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
  return Object.keys(spec)
    .map((k) => {
      const flag = `--${kebab(k)}`;
      const env = "CHAOS_" + kebab(k).replace(/-/g, "_").toUpperCase();
      return `  ${flag.padEnd(24)} ${env.padEnd(28)} ${JSON.stringify(values[k])}`;
    })
    .join("\n");
}

/** mulberry32: a small seeded PRNG, so a run's message mix and kill choices can be repeated. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Starts `node dist/cli/main.js <args>` with `env` added to a clean environment; its output goes
 * to `logFile` and is kept (the last 64 kB) for error messages.
 */
export function spawnSmsq(args, env, logFile) {
  const proc = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? "", SMSQ_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return watchChild(proc, `smsq ${args[0]}`, logFile);
}

/**
 * A spawned child (`what` names it in errors) with its stdout and stderr written to `logFile`
 * and the last 64 kB kept: `waitFor(re)` a line of output, `stop(signal)`, `exited`.
 */
export function watchChild(proc, what, logFile) {
  const file = createWriteStream(logFile, { flags: "a" });
  let tail = "";
  const waiters = new Set();
  const onData = (d) => {
    file.write(d);
    tail = (tail + d.toString()).slice(-65536);
    for (const w of waiters) w();
  };
  proc.stdout?.on("data", onData);
  proc.stderr?.on("data", onData);
  const exited = new Promise((resolve) =>
    proc.on("exit", (code, signal) => {
      file.end();
      resolve({ code, signal });
    }),
  );
  return {
    proc,
    pid: proc.pid,
    exited,
    output: () => tail,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    /** Resolves with the first match of `re` in the output. */
    waitFor(re, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = tail.match(re);
          if (!m) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(m);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${re} from ${what}; output:\n${tail}`));
        }, timeoutMs);
        waiters.add(check);
        void exited.then(() => {
          if (!waiters.has(check)) return;
          waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`${what} exited before ${re}; output:\n${tail}`));
        });
        check();
      });
    },
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** A free TCP port on 127.0.0.1 right now. */
export async function freePort() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const FINAL = new Set(["delivered", "undelivered", "failed"]);

/**
 * An HTTP proxy for provider callbacks: the simulator posts to it, it forwards to `target`
 * (smsq serve) unchanged and answers with serve's answer. It counts what the simulator's
 * callback faults did: the same callback delivered again after it was answered (duplicates,
 * by Twilio's I-Twilio-Idempotency-Token) and a message's final status arriving before its
 * `sent` (out of order), and how serve answered.
 */
export async function startCallbackProxy(target) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const answered = new Set();
  const seen = new Map(); // MessageSid → statuses in arrival order (first arrival of each)
  const stats = { requests: 0, forwarded: 0, duplicates: 0, outOfOrder: 0, byStatus: {} };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      stats.requests += 1;
      const body = Buffer.concat(chunks);
      const token = req.headers["i-twilio-idempotency-token"];
      const params = new URLSearchParams(body.toString());
      const sid = params.get("MessageSid");
      const status = params.get("MessageStatus");
      if (typeof token === "string" && answered.has(token)) stats.duplicates += 1;
      if (sid && status) {
        const list = seen.get(sid) ?? [];
        if (!list.includes(status)) {
          if (status === "sent" && list.some((s) => FINAL.has(s))) stats.outOfOrder += 1;
          list.push(status);
          seen.set(sid, list);
        }
      }
      const headers = { ...req.headers, host: new URL(target).host };
      delete headers.connection;
      const out = http.request(target + req.url, { method: req.method, headers, agent }, (r) => {
        const back = [];
        r.on("data", (c) => back.push(c));
        r.on("end", () => {
          const code = r.statusCode ?? 502;
          stats.forwarded += 1;
          stats.byStatus[code] = (stats.byStatus[code] ?? 0) + 1;
          if (code >= 200 && code < 300 && typeof token === "string") answered.add(token);
          res.writeHead(code, { "content-type": r.headers["content-type"] ?? "text/plain" });
          res.end(Buffer.concat(back));
        });
      });
      out.on("error", () => {
        stats.byStatus.unreachable = (stats.byStatus.unreachable ?? 0) + 1;
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      out.end(body);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    stats,
    close: () =>
      new Promise((resolve) => {
        agent.destroy();
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}

/** CPU seconds (user + system) a process has used, from /proc, or null when it is gone. */
export function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may itself hold spaces and parentheses.
    const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime (CLK_TCK 100)
  } catch {
    return null;
  }
}

/**
 * CPU of the PostgreSQL backends serving `db`'s database (not `db`'s own): `sample()` now and
 * then (a backend that closes counts up to its last sample), `total()` the seconds used since
 * each was first seen.
 */
export function backendCpu(db) {
  const backends = new Map(); // pid → [first, last] CPU seconds
  return {
    async sample() {
      const { rows } = await db.query(
        "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()",
      );
      for (const { pid } of rows) {
        const c = cpuSeconds(pid);
        if (c === null) continue;
        const e = backends.get(pid);
        backends.set(pid, e ? [e[0], c] : [c, c]);
      }
    },
    total: () => [...backends.values()].reduce((a, [f, l]) => a + (l - f), 0),
  };
}
