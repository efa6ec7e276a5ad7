// The chaos run, short: scripts/chaos/run.mjs with three `smsq worker` processes and one
// `smsq serve --no-worker` against PostgreSQL and the provider simulator (faults at create,
// duplicate and out-of-order callbacks), 1,500 messages submitted through the API while a worker
// is SIGKILLed and restarted four times; then its checker compares smsq's store with the
// simulator's log. The long run is `npm run chaos` (20,000 messages, 20 kills).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { TEST_DATABASE_URL } from "../helpers/db.js";

const RUNNER = fileURLToPath(new URL("../../scripts/chaos/run.mjs", import.meta.url));
const MESSAGES = Number(process.env.SMSQ_TEST_CHAOS_MESSAGES ?? 1500);
const KILLS = Number(process.env.SMSQ_TEST_CHAOS_KILLS ?? 4);

interface Summary {
  settled: boolean;
  messages: number;
  kills: number;
  violations: number;
  violationsByKind: Record<string, number>;
  faults: {
    rate429: number;
    http500After: number;
    droppedAfter: number;
    timeouts: number;
  };
  callbacks: { duplicates: number; outOfOrder: number };
  statuses: Record<string, number>;
}

function runChaos(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [RUNNER, ...args], {
      env: { ...process.env, SMSQ_TEST_DATABASE_URL: TEST_DATABASE_URL ?? "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    p.stdout.on("data", (d: Buffer) => (out += d.toString()));
    p.stderr.on("data", (d: Buffer) => (out += d.toString()));
    p.on("exit", (code) => resolve({ code, out }));
  });
}

describe.skipIf(!TEST_DATABASE_URL)("chaos: workers SIGKILLed under provider faults", () => {
  it(
    `loses nothing, sends nothing twice and never regresses (${MESSAGES} messages, ${KILLS} kills)`,
    { timeout: 180_000 },
    async () => {
      const { code, out } = await runChaos([
        "--messages",
        String(MESSAGES),
        "--kills",
        String(KILLS),
        "--kill-every-ms",
        "2000",
        "--batch",
        "250",
        "--drain-timeout-ms",
        "90000",
        "--database-url",
        TEST_DATABASE_URL as string,
      ]);
      const line = out.split("\n").find((l) => l.startsWith("CHAOS_SUMMARY "));
      expect(line, out).toBeDefined();
      const s = JSON.parse((line as string).slice("CHAOS_SUMMARY ".length)) as Summary;
      console.log(out.slice(out.indexOf("\nchaos run"), out.indexOf("CHAOS_SUMMARY")).trim());
      expect(s.violationsByKind, out).toEqual({});
      expect(s.violations).toBe(0);
      expect(s.settled).toBe(true);
      expect(s.messages).toBe(MESSAGES);
      expect(s.kills).toBeGreaterThanOrEqual(KILLS);
      // The faults were really injected.
      expect(s.faults.rate429).toBeGreaterThan(0);
      expect(s.faults.http500After + s.faults.droppedAfter + s.faults.timeouts).toBeGreaterThan(0);
      expect(s.callbacks.duplicates).toBeGreaterThan(0);
      expect(s.callbacks.outOfOrder).toBeGreaterThan(0);
      expect(code).toBe(0);
    },
  );
});
