/** `smsq stats` against a running server: the table, --json, --window, --watch, errors. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatsBody } from "../../src/api/routes/stats.js";
import { renderStats, sparkline } from "../../src/cli/stats.js";
import { openTestStore, type TestStore } from "../helpers/db.js";
import { spawnSmsq } from "../helpers/proc.js";
import { call, KEY_A, phone, startServer, submit, type Api } from "./http.js";

describe("smsq stats", () => {
  let store: TestStore;
  let api: Api;

  beforeAll(async () => {
    store = await openTestStore("pglite");
    api = await startServer(store.db, {
      accountInfo: [
        { name: "primary", kind: "twilio", routePosition: 0, dailySegmentBudget: null },
      ],
    });
    for (const priority of ["high", "normal", "low", "low"]) {
      expect((await submit(api, { to: phone(2), body: "hi", priority })).status).toBe(202);
    }
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
  });

  const run = async (args: string[]) => {
    const p = spawnSmsq(["stats", "--url", api.base, ...args], { SMSQ_API_KEY: KEY_A });
    const code = await p.exited;
    return { code, output: p.output() };
  };

  it("prints the queue by lane, outcomes, errors and accounts as a table", async () => {
    const { code, output } = await run([]);
    expect(code, output).toBe(0);
    expect(output).toMatch(/^smsq stats: last 60 min/);
    expect(output).toMatch(/^lane\s+queued\s+due\s+oldest due\s+sending\s+sent\*$/m);
    expect(output).toMatch(/^high\s+1\s+1\s+\S+ s\s+0\s+0$/m);
    expect(output).toMatch(/^low\s+2\s+2\s/m);
    expect(output).toMatch(/^errors\s+none$/m);
    expect(output).toMatch(/^primary\s+twilio\s+closed\s+0\s+0\s+0\s+–\s+–$/m);
  });

  it("prints the API's JSON with --json, for the --window asked", async () => {
    const { code, output } = await run(["--json", "--window", "15"]);
    expect(code, output).toBe(0);
    const s = JSON.parse(output) as StatsBody;
    expect(s.window).toMatchObject({ minutes: 15, bucketSeconds: 15 });
    expect(s.queue.lanes.map((l) => l.queued)).toEqual([1, 1, 2]);
  });

  it("refreshes with --watch until stopped (one JSON line per refresh)", async () => {
    const p = spawnSmsq(["stats", "--url", api.base, "--json", "--watch", "1"], {
      SMSQ_API_KEY: KEY_A,
    });
    await p.waitForLine(/\}\n[^\n]*\{"window"[^\n]*\}\n/, 20_000);
    await p.stop("SIGINT");
    const lines = p.output().trim().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) expect((JSON.parse(l) as StatsBody).series).toHaveLength(60);
  });

  it("refuses a bad window and reports a refused key", async () => {
    const bad = await run(["--window", "0"]);
    expect(bad.code).not.toBe(0);
    expect(bad.output).toMatch(/--window.*must be an integer from 1 to 1440/);
    const p = spawnSmsq(["stats", "--url", api.base, "--api-key", "not-the-key-at-all"], {});
    expect(await p.exited).toBe(1);
    expect(p.output()).toMatch(/^smsq: 401 unauthorized/);
  });

  it("renders rates, ages, retries and error codes", async () => {
    const res = await call<StatsBody>(api, "GET", "/v1/stats");
    const s: StatsBody = {
      ...res.json,
      deliveryRate: 0.9706,
      retries: { messages: 5, succeeded: 3, failed: 1, pending: 1, successRate: 0.75 },
      attemptsPerMessage: 1.25,
      errors: {
        byClass: [{ class: "transient", attempts: 4, messages: 1 }],
        byCode: [{ code: "30003", class: "transient", attempts: 4, messages: 1 }],
      },
    };
    const text = renderStats(s);
    expect(text).toContain("delivery  97.1 % delivered");
    expect(text).toContain(
      "retries   75.0 % succeeded (3 of 4 retried messages that ended; 1 pending)",
    );
    expect(text).toContain("1.25 per message");
    expect(text).toMatch(/^30003\s+transient\s+4\s+1$/m);
    expect(sparkline([0, 1, 2, 4, 8])).toBe(" ▁▂▄█");
  });
});
