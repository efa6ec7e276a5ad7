/** Runs the built `smsq` command as a child process, as a user would. */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));

export interface SmsqProcess {
  proc: ChildProcess;
  output(): string;
  /** Resolves with the first output line matching `re`. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Starts `smsq <args>` with the given environment added to a clean one. */
export function spawnSmsq(args: string[], env: Record<string, string>): SmsqProcess {
  const proc = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? "", SMSQ_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  proc.stdout?.on("data", onData);
  proc.stderr?.on("data", onData);
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  return {
    proc,
    exited,
    output: () => out,
    waitForLine(re, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(re);
          if (m) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${re}; output so far:\n${out}`));
        }, timeoutMs);
        listeners.add(check);
        void exited.then(() => {
          if (listeners.has(check)) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(new Error(`process exited before ${re}; output:\n${out}`));
          }
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

/** `smsq simulate` in a process of its own: its clock is not stalled by the process under test. */
export async function spawnSimulator(behaviour: Record<string, unknown> = {}): Promise<{
  url: string;
  log(): Promise<import("../../src/simulator/types.js").SimLogEntry[]>;
  /** Empties its log, messages and sender buckets (a retried test starts clean). */
  reset(): Promise<void>;
  stop(): Promise<number | null>;
}> {
  const p = spawnSmsq(["simulate", "--port", "0", "--behaviour", JSON.stringify(behaviour)], {});
  const m = await p.waitForLine(/listening on (http:\/\/\S+)/);
  const url = m[1] as string;
  return {
    url,
    log: async () => {
      const res = await fetch(`${url}/_sim/log`);
      const body = (await res.json()) as
        | import("../../src/simulator/types.js").SimLogEntry[]
        | { entries: import("../../src/simulator/types.js").SimLogEntry[] };
      return Array.isArray(body) ? body : body.entries;
    },
    reset: async () => {
      const res = await fetch(`${url}/_sim/reset`, { method: "POST" });
      if (!res.ok) throw new Error(`simulator reset answered ${res.status}`);
    },
    stop: () => p.stop("SIGTERM"),
  };
}
