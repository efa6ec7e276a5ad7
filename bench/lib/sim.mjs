// The provider simulator (`smsq simulate`) as a process of its own, so that its CPU is not
// mixed with the benchmark's, with small wrappers around its control endpoints.
import { join } from "node:path";
import { startSmsq } from "./procs.mjs";

export const SID = "AC00000000000000000000000000000000";
export const TOKEN = "simulator-auth-token";
export const SENDER = "+14155550000";

const { fetch } = globalThis;

/** Starts the simulator with `behaviour`; resolves once it listens. */
export async function startSim(tmpDir, tag, behaviour = {}) {
  const child = startSmsq(
    [
      "simulate",
      "--port",
      "0",
      "--twilio-account",
      `${SID}:${TOKEN}`,
      "--behaviour",
      JSON.stringify(behaviour),
    ],
    {},
    join(tmpDir, `sim-${tag}.log`),
  );
  const url = (await child.waitFor(/listening on (http:\/\/\S+)/))[1];
  const get = async (path) => {
    const r = await fetch(url + path);
    if (!r.ok) throw new Error(`simulator ${path}: ${r.status}`);
    return r.json();
  };
  const post = async (path, body) => {
    const r = await fetch(url + path, {
      method: "POST",
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!r.ok) throw new Error(`simulator ${path}: ${r.status}`);
    return r.json().catch(() => null);
  };
  return {
    url,
    pid: child.pid,
    child,
    health: () => get("/_sim/health"),
    /** Log entries with seq > since (every create request that reached it). */
    log: (since = 0) => get(`/_sim/log?since=${since}`),
    /** Clears messages, log and scheduled callbacks; `seq` goes on. */
    reset: () => post("/_sim/reset"),
    configure: (b) => post("/_sim/behaviour", b),
    drain: () => post("/_sim/drain"),
    stop: () => child.stop("SIGTERM"),
  };
}

/**
 * What the simulator saw of one run, from its log entries: how many calls, how many messages
 * created, bodies created more than once or never, and the calls' span (first to last, ms).
 */
export function checkLog(entries, bodies) {
  const created = new Map();
  let first = Infinity;
  let last = -Infinity;
  for (const e of entries) {
    first = Math.min(first, e.at);
    last = Math.max(last, e.at);
    if (e.outcome === "created") created.set(e.body, (created.get(e.body) ?? 0) + 1);
  }
  let twice = 0;
  let missing = 0;
  for (const b of bodies) {
    const n = created.get(b) ?? 0;
    if (n === 0) missing += 1;
    else if (n > 1) twice += n - 1;
  }
  const expected = new Set(bodies);
  const stray = [...created.keys()].filter((b) => !expected.has(b)).length;
  return { calls: entries.length, created: created.size, twice, missing, stray, first, last };
}
