// The provider simulator (`smsq simulate`) as a process of its own, so that its CPU is not
// mixed with the benchmark's, with small wrappers around its control endpoints.
import { SIM_SID, SIM_TOKEN, simulatorArgs, simulatorUrl } from "../../scripts/chaos/lib.mjs";
import { startSmsq } from "./procs.mjs";

export const SENDER = "+14155550000";

/** The simulator's default accounts (src/simulator/index.ts), as smsq's settings. */
export const SIM_TWILIO = { TWILIO_ACCOUNT_SID: SIM_SID, TWILIO_AUTH_TOKEN: SIM_TOKEN };
export const SIM_DIALPAD = { DIALPAD_API_TOKEN: "simulator-dialpad-token" };

const { fetch } = globalThis;

/** Starts the simulator with `behaviour`, its output in `logFile`; resolves once it listens. */
export async function startSim(logFile, behaviour = {}) {
  const child = startSmsq(simulatorArgs(behaviour), {}, logFile);
  const url = await simulatorUrl(child);
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
