// The messages every dispatch contender sends: one number and one body each. The body carries
// the run's tag and the index, so the simulator's log shows which message each call was.

/** The N messages of a run. */
export function messages(n, tag) {
  return Array.from({ length: n }, (_, i) => ({
    to: `+1415${String(2_000_000 + i).padStart(7, "0")}`,
    body: `bench ${tag} ${i}`,
  }));
}

/** Percentile (0..100) of a numeric array, nearest rank. */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** Rounds for a report: 3 significant digits, integers kept whole. */
export function round(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return x;
  if (Math.abs(x) >= 100) return Math.round(x);
  return Number(x.toPrecision(3));
}

/**
 * The figures every throughput run shares: CPU per 1,000 messages by process, and the claims
 * put back unsent (smsq only; `released` null or undefined elsewhere).
 */
export function cpuFigures(name, run, n) {
  const out = Object.entries(run.cpuPer1000).map(([k, v]) => ({
    name: `${name}: CPU ${k}`,
    value: round(v),
    unit: "CPU-s/1000 msg",
  }));
  if (run.released !== undefined && run.released !== null) {
    out.push({
      name: `${name}: claims put back unsent (late for their rate slot)`,
      value: run.released,
      unit: "claims",
      detail: `of ${n} messages; each is claimed again`,
    });
  }
  return out;
}
