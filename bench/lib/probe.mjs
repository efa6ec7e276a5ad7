// Helpers of the scale, api and limits sections: smsq processes, and their resident memory read
// from /proc (what the kernel charges, not V8's view). The simulator is bench/lib/sim.mjs.
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../../scripts/chaos/lib.mjs";
import { startSmsq } from "./procs.mjs";

export { freePort, startSmsq };

/** Resident set size of a process in MB (VmRSS), or null once it is gone. */
export function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/** Samples `pid`'s RSS every `everyMs` until stop(); resolves to [{t (ms from start), mb}]. */
export function sampleRss(pid, everyMs = 500) {
  const samples = [];
  const t0 = Date.now();
  let on = true;
  const loop = (async () => {
    while (on) {
      const mb = rssMb(pid);
      if (mb !== null) samples.push({ t: Date.now() - t0, mb });
      await sleep(everyMs);
    }
  })();
  return {
    samples,
    async stop() {
      on = false;
      await loop;
      return samples;
    },
  };
}

/** Starts `smsq serve` (args after "serve") and waits for its URL; `startMs` is how long it took. */
export async function startServe(args, env, logFile, timeoutMs = 60_000) {
  const port = await freePort();
  const t0 = Date.now();
  const p = startSmsq(["serve", ...args], { SMSQ_PORT: String(port), ...env }, logFile);
  await p.waitFor(/listening on (http:\/\/\S+)/, timeoutMs);
  return { ...p, url: `http://127.0.0.1:${port}`, startMs: Date.now() - t0 };
}

/** Percentile p (0–100) of a list of numbers (nearest rank). */
export function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** Rounds for the report: 3 significant digits. */
export const r3 = (x) => (x === null || x === undefined ? null : Number(Number(x).toPrecision(3)));

/** The most weight (segments) in any rolling window [t, t + windowMs) (test/helpers/rate.ts). */
export function maxInWindow(times, windowMs = 1000, weights) {
  const order = times.map((t, i) => [t, weights?.[i] ?? 1]).sort((a, b) => a[0] - b[0]);
  let best = 0;
  let sum = 0;
  let lo = 0;
  for (let hi = 0; hi < order.length; hi++) {
    sum += order[hi][1];
    while (order[hi][0] - order[lo][0] >= windowMs) sum -= order[lo++][1];
    best = Math.max(best, sum);
  }
  return best;
}

/** Weight per second between the first and the last event: each is paid by the gap after it. */
export function achievedRate(times, weights) {
  if (times.length < 2) return 0;
  const order = times.map((t, i) => [t, weights?.[i] ?? 1]).sort((a, b) => a[0] - b[0]);
  const span = order.at(-1)[0] - order[0][0];
  const carried = order.slice(0, -1).reduce((s, [, w]) => s + w, 0);
  return span > 0 ? (carried / span) * 1000 : Infinity;
}
