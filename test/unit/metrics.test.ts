// The metrics registry without a database: what the dispatcher's hook counts, that store gauges
// are read once per cache period however many scrapes come (concurrent ones share one read),
// and that a store outage leaves the in-process series and says so in smsq_store_up.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Metrics } from "../../src/metrics/metrics.js";
import type { Db } from "../../src/store/db.js";
import { parsePrometheus, total, value } from "../helpers/prom.js";

/** A store that answers every read with no rows (or fails), counting the statements. */
function fakeDb(fail: { now: boolean }) {
  const calls = { n: 0 };
  const db = {
    kind: "postgres",
    calls,
    async query(sql: string) {
      calls.n += 1;
      await new Promise((r) => setTimeout(r, 5));
      if (fail.now) {
        throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
      }
      if (sql.includes("select now()")) return [{ now: new Date() }];
      return [];
    },
    async exec() {},
    async transaction() {
      throw new Error("not used");
    },
    async close() {},
  };
  return db as unknown as Db & { calls: { n: number } };
}

const attempt = (outcome: "accepted" | "failed", ms: number) => {
  const startedAt = new Date(1_000_000);
  return {
    messageId: "m",
    status: outcome === "accepted" ? ("sent" as const) : ("queued" as const),
    attempt: {
      number: 1,
      provider: "twilio",
      account: "primary",
      outcome,
      providerStatus: null,
      httpStatus: outcome === "accepted" ? 201 : 429,
      startedAt,
      finishedAt: new Date(startedAt.getTime() + ms),
    },
  };
};

describe("Metrics", () => {
  it("counts provider calls, their latency and accepted segments from the dispatcher's hook", async () => {
    const m = new Metrics(fakeDb({ now: false }), { defaultMetrics: false });
    m.onAttempt(
      { segments: 2, from_number: "+15005550006" },
      {
        outcome: attempt("accepted", 120),
        errorClass: null,
      },
    );
    m.onAttempt(
      { segments: 1, sender: "+15005550007" },
      {
        outcome: attempt("failed", 30),
        errorClass: "rate_limited",
      },
    );
    // A step without a provider call (a suppressed recipient) counts nothing.
    m.onAttempt(
      { segments: 1 },
      {
        outcome: { messageId: "m", status: "suppressed" },
        errorClass: null,
      },
    );
    const p = parsePrometheus(await m.render());
    const l = { provider: "twilio", account: "primary" };
    expect(total(p, "smsq_provider_attempts_total")).toBe(2);
    expect(
      value(p, "smsq_provider_attempts_total", {
        ...l,
        outcome: "failed",
        error_class: "rate_limited",
      }),
    ).toBe(1);
    expect(
      value(p, "smsq_provider_call_duration_seconds_count", { ...l, outcome: "accepted" }),
    ).toBe(1);
    expect(value(p, "smsq_provider_call_duration_seconds_sum", { ...l, outcome: "accepted" })).toBe(
      0.12,
    );
    expect(
      value(p, "smsq_provider_call_duration_seconds_bucket", {
        ...l,
        outcome: "accepted",
        le: "0.1",
      }),
    ).toBe(0);
    expect(
      value(p, "smsq_provider_call_duration_seconds_bucket", {
        ...l,
        outcome: "accepted",
        le: "0.25",
      }),
    ).toBe(1);
    expect(value(p, "smsq_segments_accepted_total", { ...l, sender: "+15005550006" })).toBe(2);
    expect(total(p, "smsq_segments_accepted_total")).toBe(2);
  });

  it("reads the store once per cache period, concurrent scrapes sharing the read", async () => {
    const db = fakeDb({ now: false });
    const m = new Metrics(db, { defaultMetrics: false, cacheMs: 200, accounts: ["primary"] });
    await Promise.all([m.render(), m.render(), m.render()]);
    const perRead = db.calls.n;
    expect(perRead).toBe(5); // now(), queue, recent final messages, buckets, accounts
    await m.render();
    expect(db.calls.n).toBe(perRead);
    await new Promise((r) => setTimeout(r, 250));
    const p = parsePrometheus(await m.render());
    expect(db.calls.n).toBe(2 * perRead);
    expect(value(p, "smsq_store_up")).toBe(1);
    expect(value(p, "smsq_circuit_state", { account: "primary" })).toBe(0);
    expect(value(p, "smsq_messages", { status: "queued" })).toBe(0);
  });

  it("keeps serving in-process series through a store outage, with smsq_store_up 0", async () => {
    const fail = { now: true };
    const m = new Metrics(fakeDb(fail), { defaultMetrics: false, cacheMs: 0 });
    m.onAttempt({ segments: 1 }, { outcome: attempt("accepted", 10), errorClass: null });
    const down = parsePrometheus(await m.render());
    expect(value(down, "smsq_store_up")).toBe(0);
    expect(total(down, "smsq_messages")).toBe(0);
    expect(down.get("smsq_messages")?.samples).toHaveLength(0);
    expect(total(down, "smsq_provider_attempts_total")).toBe(1);
    fail.now = false;
    const up = parsePrometheus(await m.render());
    expect(value(up, "smsq_store_up")).toBe(1);
    expect(value(up, "smsq_queue_depth", { lane: "high" })).toBe(0);
  });

  it("docs/metrics.md lists every series, and only series that exist", async () => {
    const m = new Metrics(fakeDb({ now: false }), { defaultMetrics: false });
    const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name);
    expect(names.length).toBeGreaterThan(25);
    const doc = readFileSync(new URL("../../docs/metrics.md", import.meta.url), "utf8");
    for (const n of names) expect(doc, n).toContain(`\`${n}`);
    const mentioned = new Set([...doc.matchAll(/\b(smsq_[a-z0-9_]+)/g)].map((x) => x[1] as string));
    for (const n of mentioned) {
      const base = n.replace(/_(bucket|sum|count)$/, "");
      expect(names.includes(n) || names.includes(base), n).toBe(true);
    }
  });
});
