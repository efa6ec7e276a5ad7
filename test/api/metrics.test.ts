// GET /metrics as Prometheus sees it: smsq started as `smsq serve` starts it (API, worker,
// sandbox provider, a global token bucket), messages sent through it over HTTP, then the page
// scraped with an API key and parsed by a strict text-format parser (test/helpers/prom.ts) and
// by parse-prometheus-text-format. The counters must agree with the store: one attempt per
// message sent, one delivered receipt each, segments summed. Also the worker's own metrics port
// (SMSQ_METRICS_PORT) and SMSQ_METRICS_PUBLIC.
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, type Running } from "../../src/app.js";
import { loadConfig } from "../../src/config/index.js";
import { createDatabase, ENGINES, waitFor } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";
import { parsePrometheus, total, value, type Family } from "../helpers/prom.js";

const KEY = "metrics-test-key-0123456789";
const N = 20;

async function scrape(base: string, key: string | null = KEY) {
  const r = await fetch(`${base}/metrics`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  return { status: r.status, type: r.headers.get("content-type"), text: await r.text() };
}

/** Waits out the store gauges' cache (2 s), so that the next scrape reads the store again. */
const fresh = () => new Promise((r) => setTimeout(r, 2100));

async function scrapeParsed(base: string): Promise<Map<string, Family>> {
  const r = await scrape(base);
  expect(r.status).toBe(200);
  const families = parsePrometheus(r.text);
  // A second, independent parser reads the same families.
  const other = parsePrometheusTextFormat(r.text);
  expect(new Set(other.map((f) => f.name))).toEqual(new Set(families.keys()));
  return families;
}

async function sendBatch(base: string, n: number, offset: number): Promise<string[]> {
  const messages = Array.from({ length: n }, (_, i) => ({
    to: `+1415555${String(1000 + offset + i).padStart(4, "0")}`,
    // Every third message is two segments long.
    body: (offset + i) % 3 === 0 ? "x".repeat(200) : `metrics test ${offset + i}`,
  }));
  const r = await fetch(`${base}/v1/messages/batch`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ messages }),
  });
  expect(r.status).toBe(200);
  const body = (await r.json()) as { data: { id: string }[] };
  return body.data.map((m) => m.id);
}

describe.each(ENGINES)("GET /metrics on %s", (engine) => {
  let running: Running;
  let worker: Running | null = null;
  let drop: (() => Promise<void>) | null = null;
  let env: Record<string, string>;

  beforeAll(async () => {
    env = {
      SMSQ_PORT: "0",
      SMSQ_HOST: "127.0.0.1",
      SMSQ_API_KEYS: KEY,
      SMSQ_GLOBAL_RATE: "500",
      SMSQ_METRICS_PORT: "0",
      SMSQ_LOG_LEVEL: "silent",
    };
    if (engine === "postgres") {
      const created = await createDatabase();
      env.SMSQ_DATABASE_URL = created.url;
      drop = created.drop;
    }
    running = await start(loadConfig(env), {
      api: true,
      worker: true,
      memory: true,
      log: silentLog,
    });
  });
  afterAll(async () => {
    await worker?.stop();
    await running?.stop();
    await drop?.();
  });

  it("asks for the API key as a Bearer token", async () => {
    const base = running.url as string;
    expect((await scrape(base, null)).status).toBe(401);
    expect((await scrape(base, "wrong-key-0123456789")).status).toBe(401);
    const ok = await scrape(base);
    expect(ok.status).toBe(200);
    expect(ok.type).toMatch(/^text\/plain; version=0\.0\.4/);
    // Not in the API's OpenAPI document: it is not part of /v1.
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: object };
    expect(Object.keys(doc.paths)).not.toContain("/metrics");
  });

  // Generous limits: on a busy host the limiter puts paced sends back and takes them again.
  it(
    "carries every series, agreeing with the store after messages flow",
    { timeout: 150_000 },
    async () => {
      const base = running.url as string;
      const db = running.db;
      await sendBatch(base, N, 0);
      // A webhook with no configured account: refused, and counted by reason.
      const hook = await fetch(`${base}/v1/webhooks/twilio/status`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "AccountSid=AC000&MessageSid=SM1&MessageStatus=delivered",
      });
      expect(hook.status).toBe(403);
      await waitFor(
        async () => {
          const r = await db.query<{ n: number }>(
            "select count(*)::int as n from smsq.messages where status = 'delivered'",
          );
          return r[0]?.n === N ? true : undefined;
        },
        90_000,
        "messages delivered",
      );
      // The bucket is credited with the sends at the worker's next claim through it.
      await waitFor(
        async () => {
          const r = await db.query<{ n: number }>(
            "select accepted_total::int as n from smsq.rate_limits where key = 'global'",
          );
          return r[0]?.n === N ? true : undefined;
        },
        30_000,
        "bucket credited",
      );
      const store = (
        await db.query<{ attempts: number; segments: number }>(
          `select (select count(*) from smsq.attempts)::int as attempts,
                (select sum(segments) from smsq.messages)::int as segments`,
        )
      )[0] as { attempts: number; segments: number };
      expect(store.attempts).toBe(N);

      await fresh();
      const m = await scrapeParsed(base);
      const sandbox = { provider: "sandbox", account: "sandbox" };
      // Provider calls: one per message, all accepted, each timed.
      expect(m.get("smsq_provider_attempts_total")?.type).toBe("counter");
      expect(total(m, "smsq_provider_attempts_total")).toBe(store.attempts);
      expect(
        value(m, "smsq_provider_attempts_total", {
          ...sandbox,
          outcome: "accepted",
          error_class: "none",
        }),
      ).toBe(N);
      expect(m.get("smsq_provider_call_duration_seconds")?.type).toBe("histogram");
      expect(value(m, "smsq_provider_call_duration_seconds_count", sandbox)).toBe(N);
      expect(
        value(m, "smsq_provider_call_duration_seconds_bucket", { ...sandbox, le: "+Inf" }),
      ).toBe(N);
      expect(value(m, "smsq_provider_call_duration_seconds_sum", sandbox)).toBeGreaterThanOrEqual(
        0,
      );
      expect(total(m, "smsq_segments_accepted_total", sandbox)).toBe(store.segments);

      // Messages by status, and the final ones of the last 5 minutes.
      for (const status of ["scheduled", "queued", "sending", "sent"]) {
        expect(value(m, "smsq_messages", { status })).toBe(0);
      }
      expect(value(m, "smsq_messages_completed_last_5m", { status: "delivered" })).toBe(N);
      expect(value(m, "smsq_messages_completed_last_5m", { status: "failed" })).toBe(0);

      // The queue, per lane.
      for (const lane of ["high", "normal", "low"]) {
        expect(value(m, "smsq_queue_depth", { lane })).toBe(0);
        expect(value(m, "smsq_queue_due", { lane })).toBe(0);
        expect(value(m, "smsq_queue_oldest_due_age_seconds", { lane })).toBe(0);
      }

      // The global bucket: configured and learned rate, credited sends, no backlog now.
      const bucket = { bucket: "global", account: "", sender: "" };
      expect(value(m, "smsq_rate_limit_configured_segments_per_second", bucket)).toBe(500);
      const learned = value(m, "smsq_rate_limit_learned_segments_per_second", bucket);
      expect(learned).toBeGreaterThan(0);
      expect(learned).toBeLessThanOrEqual(500);
      expect(value(m, "smsq_rate_limit_accepted_total", bucket)).toBe(N);
      expect(value(m, "smsq_rate_limit_limited_total", bucket)).toBe(0);
      expect(value(m, "smsq_rate_limit_backlog_seconds", bucket)).toBeGreaterThanOrEqual(0);

      // Circuits: the route's account, closed.
      expect(value(m, "smsq_circuit_state", { account: "sandbox" })).toBe(0);
      expect(value(m, "smsq_account_cooldown_seconds", { account: "sandbox" })).toBe(0);

      // Receipts: the sandbox reports each message delivered, often before the send is recorded
      // (then held, and applied once it is); each moved its message once.
      expect(value(m, "smsq_receipts_total", { provider: "sandbox", status: "delivered" })).toBe(N);
      const result = (r: string) => value(m, "smsq_receipts_processed_total", { result: r });
      expect(result("applied") + result("held_applied")).toBe(N);
      expect(result("held")).toBe(result("held_applied"));
      expect(result("duplicate")).toBe(0);

      // Webhooks.
      expect(value(m, "smsq_webhook_rejections_total", { reason: "unknown_account" })).toBe(1);
      expect(value(m, "smsq_webhook_requests_accepted_total")).toBe(0);

      // The dispatcher, the store and the process.
      // Claims include messages put back unsent when a busy host missed their rate slot.
      expect(
        value(m, "smsq_dispatcher_claimed_total") - value(m, "smsq_dispatcher_late_released_total"),
      ).toBe(N);
      expect(value(m, "smsq_dispatcher_in_flight_messages")).toBe(0);
      expect(value(m, "smsq_store_up")).toBe(1);
      expect(value(m, "smsq_metrics_store_read_seconds")).toBeGreaterThan(0);
      expect(value(m, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
      expect(value(m, "nodejs_heap_size_used_bytes")).toBeGreaterThan(0);

      // Every smsq series has help text and a type.
      for (const f of m.values()) {
        if (!f.name.startsWith("smsq_")) continue;
        expect(f.help, f.name).toBeTruthy();
        expect(f.type, f.name).not.toBe("untyped");
      }
    },
  );

  it(
    "measures a bucket's utilisation between two reads of the store",
    { timeout: 150_000 },
    async () => {
      const base = running.url as string;
      const db = running.db;
      const bucket = { bucket: "global", account: "", sender: "" };
      await fresh();
      const first = await scrapeParsed(base);
      const before = value(first, "smsq_rate_limit_accepted_total", bucket);
      const t0 = Date.now();
      await sendBatch(base, 10, 100);
      // On a busy host the worker may put paced sends back and take them again: wait for all.
      await waitFor(
        async () => {
          const r = await db.query<{ n: number }>(
            "select count(*)::int as n from smsq.messages where status = 'delivered'",
          );
          return r[0]?.n === N + 10 ? true : undefined;
        },
        90_000,
        "messages delivered",
      );
      await waitFor(
        async () => {
          const r = await db.query<{ n: number }>(
            "select accepted_total::int as n from smsq.rate_limits where key = 'global'",
          );
          return r[0]?.n === before + 10 ? true : undefined;
        },
        30_000,
        "bucket credited",
      );
      // The store gauges are cached for 2 s: wait for the next read.
      await new Promise((r) => setTimeout(r, Math.max(0, 2100 - (Date.now() - t0))));
      const second = await scrapeParsed(base);
      expect(value(second, "smsq_rate_limit_accepted_total", bucket)).toBe(before + 10);
      const u = value(second, "smsq_rate_limit_utilisation_ratio", bucket);
      // 10 messages over a few seconds against 500 segments/s: small, but above zero.
      expect(u).toBeGreaterThan(0);
      expect(u).toBeLessThan(10 / 2 / 500 + 1e-9);
    },
  );

  it("serves a worker's metrics on SMSQ_METRICS_PORT, with the key or public", async () => {
    // The serving process has its own metrics port too; it wants the key like /metrics.
    const own = running.metricsUrl as string;
    expect((await scrape(own, null)).status).toBe(401);
    expect(value(await scrapeParsed(own), "smsq_store_up")).toBe(1);

    // A worker with no API, as `smsq worker` runs (on the embedded store: its own database),
    // with SMSQ_METRICS_PUBLIC: no key needed.
    worker = await start(
      loadConfig({
        SMSQ_METRICS_PORT: "0",
        SMSQ_METRICS_PUBLIC: "true",
        SMSQ_HOST: "127.0.0.1",
        SMSQ_API_KEYS: KEY,
        SMSQ_LOG_LEVEL: "silent",
      }),
      { api: false, worker: true, memory: true, log: silentLog },
    );
    expect(worker.url).toBeNull();
    const base = worker.metricsUrl as string;
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    const r = await scrape(base, null);
    expect(r.status).toBe(200);
    const m = parsePrometheus(r.text);
    expect(value(m, "smsq_store_up")).toBe(1);
    expect(value(m, "smsq_dispatcher_in_flight_messages")).toBe(0);
    expect(value(m, "smsq_queue_depth", { lane: "normal" })).toBe(0);
    expect(value(m, "smsq_circuit_state", { account: "sandbox" })).toBe(0);
    expect(value(m, "smsq_retention_runs_total")).toBe(0);
    // No API in this process: no webhook series have values.
    expect(total(m, "smsq_webhook_rejections_total")).toBe(0);
  });
});
