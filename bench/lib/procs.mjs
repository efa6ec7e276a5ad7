// Child processes of a benchmark run: smsq commands and plain Node scripts (the peers), each with
// its output in a log file (the last 64 kB kept for error messages). Every child is remembered,
// so that the runner can end whatever a failed or interrupted section left behind (killAll).
// The peers (startNode) get an IPC channel: they wait for a "go" message so that their start-up
// is not measured.
import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { clearTimeout, setTimeout } from "node:timers";
import { CLI } from "../../scripts/chaos/lib.mjs";

const children = new Set();

function track(proc, what, logFile) {
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
  const child = {
    proc,
    pid: proc.pid,
    exited: new Promise((resolve) =>
      proc.on("exit", (code, signal) => {
        file.end();
        children.delete(child);
        resolve({ code, signal });
      }),
    ),
    output: () => tail,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    /** Sends a message over the IPC channel (startNode children only). */
    send: (m) => proc.send?.(m),
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
        void child.exited.then(() => {
          if (!waiters.has(check)) return;
          waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`${what} exited before ${re}; output:\n${tail}`));
        });
        check();
      });
    },
    async stop(signal = "SIGTERM") {
      if (child.alive()) proc.kill(signal);
      return child.exited;
    },
  };
  children.add(child);
  return child;
}

/** `node dist/cli/main.js <args>` with `env` added to a clean environment. */
export function startSmsq(args, env, logFile) {
  const proc = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? "", SMSQ_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return track(proc, `smsq ${args[0]}`, logFile);
}

/** `node <script>` with `env` added to a clean environment and an IPC channel (send()). */
export function startNode(script, env, logFile) {
  const proc = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  return track(proc, script, logFile);
}

/** Ends every child still running (SIGKILL) and waits for them. */
export async function killAll() {
  const left = [...children];
  for (const c of left) if (c.alive()) c.proc.kill("SIGKILL");
  await Promise.all(left.map((c) => c.exited));
}
