// The quick start as a user runs it: `smsq serve` on the embedded store, a message posted over
// HTTP reaches `delivered` through the sandbox, and it is still there after a restart.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { waitFor } from "../helpers/db.js";
import { spawnSmsq, type SmsqProcess } from "../helpers/proc.js";

describe("smsq serve on the embedded store", () => {
  const dir = mkdtempSync(join(tmpdir(), "smsq-serve-"));
  const procs: SmsqProcess[] = [];
  afterAll(async () => {
    for (const p of procs) await p.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  const serve = async () => {
    const p = spawnSmsq(["serve"], { SMSQ_DATA_DIR: dir, SMSQ_PORT: "0" });
    procs.push(p);
    const m = await p.waitForLine(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
    return { p, url: m[1] as string };
  };

  it("delivers a posted message within 2 s, stops cleanly, and keeps it across a restart", async () => {
    const first = await serve();
    expect(first.p.output()).toMatch(/no API key configured, so listening on 127\.0\.0\.1 only/);
    const health = await fetch(`${first.url}/healthz`);
    expect(health.status).toBe(200);

    const posted = Date.now();
    const res = await fetch(`${first.url}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ to: "+14155552671", body: "Your code is 123456" }),
    });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const delivered = await waitFor(async () => {
      const r = await fetch(`${first.url}/v1/messages/${id}`);
      const m = (await r.json()) as { status: string };
      return m.status === "delivered" ? Date.now() : undefined;
    }, 5000);
    expect(delivered - posted).toBeLessThan(2000);

    expect(await first.p.stop("SIGTERM")).toBe(0);

    const second = await serve();
    const again = (await (await fetch(`${second.url}/v1/messages/${id}`)).json()) as {
      status: string;
      attempts: unknown[];
    };
    expect(again.status).toBe("delivered");
    expect(again.attempts).toHaveLength(1);
    expect(await second.p.stop("SIGINT")).toBe(0);
  });

  it("refuses to start with a bad setting, naming it on one line", async () => {
    const p = spawnSmsq(["serve"], {
      SMSQ_DATA_DIR: dir,
      SMSQ_PORT: "http",
      SMSQ_DEFAULT_REGION: "ZZ",
    });
    procs.push(p);
    expect(await p.exited).toBe(2);
    const lines = p.output().trim().split("\n");
    expect(lines).toEqual([
      expect.stringMatching(/^smsq: config: SMSQ_PORT: must be an integer/),
      expect.stringMatching(/^smsq: config: SMSQ_DEFAULT_REGION: must be an ISO 3166 region/),
    ]);
  });

  it("refuses to start with TWILIO_ACCOUNT_SID but no token, naming the missing setting", async () => {
    const p = spawnSmsq(["serve"], {
      SMSQ_DATA_DIR: dir,
      TWILIO_ACCOUNT_SID: "AC" + "0".repeat(32),
      TWILIO_FROM: "+14155550000",
      // The simulator has no sender limit here; the limiter is tested in test/e2e/limits*.
      TWILIO_MPS: "10000",
    });
    procs.push(p);
    expect(await p.exited).toBe(2);
    expect(p.output().trim().split("\n")).toEqual([
      expect.stringMatching(
        /^smsq: config: TWILIO_AUTH_TOKEN: required when TWILIO_ACCOUNT_SID is set/,
      ),
    ]);
  });

  it("refuses `smsq worker` on the embedded store, which serves one process", async () => {
    const p = spawnSmsq(["worker"], { SMSQ_DATA_DIR: dir });
    procs.push(p);
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(/SMSQ_DATABASE_URL: smsq worker needs a PostgreSQL server/);
  });
});
