// Child processes of a benchmark run: smsq commands and plain Node scripts (the peers), each with
// its output in a log file (the last 64 kB kept for error messages). Every child is remembered,
// so that the runner can end whatever a failed or interrupted section left behind (killAll).
// The peers (startNode) get an IPC channel: they wait for a "go" message so that their start-up
// is not measured.
import { spawn } from "node:child_process";
import { spawnSmsq, watchChild } from "../../scripts/chaos/lib.mjs";

const children = new Set();

// A child watched as the chaos scripts do (scripts/chaos/lib.mjs), plus an IPC send and a
// place among the children killAll ends.
function track(child) {
  child.send = (m) => child.proc.send?.(m);
  children.add(child);
  void child.exited.then(() => children.delete(child));
  return child;
}

/** `node dist/cli/main.js <args>` with `env` added to a clean environment (spawnSmsq). */
export function startSmsq(args, env, logFile) {
  return track(spawnSmsq(args, env, logFile));
}

/** `node <script>` with `env` added to a clean environment and an IPC channel (send()). */
export function startNode(script, env, logFile) {
  const proc = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  return track(watchChild(proc, script, logFile));
}

/** Ends every child still running (SIGKILL) and waits for them. */
export async function killAll() {
  const left = [...children];
  for (const c of left) if (c.alive()) c.proc.kill("SIGKILL");
  await Promise.all(left.map((c) => c.exited));
}
