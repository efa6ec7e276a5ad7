/**
 * Prometheus metrics (prom-client), one registry per process. Two kinds of series:
 *
 * - in-process counters: provider calls, their latency, segments and receipts this process
 *   handled, counted as they happen (the dispatcher's `onAttempt` hook, the receipt sink) or
 *   read from the counters the dispatcher, the webhooks and the retention timer keep. Each
 *   process reports its own; sum them across instances in PromQL.
 * - store gauges, the same in every process: messages by status, the queue per lane, the token
 *   buckets, the circuits. Read at scrape time with a few indexed statements (the queue
 *   statement of GET /v1/stats, recent final messages through `messages_completed_idx`, the
 *   small rate_limits and account_state tables) and cached for `cacheMs`, so frequent or
 *   concurrent scrapes cost one round of queries. Nothing reads history.
 *
 * Every series is listed in docs/metrics.md.
 */
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type LabelValues,
} from "prom-client";
import type { AttemptResult } from "../dispatch/attempt.js";
import type { Receipt } from "../store/receipts.js";
import type { Db } from "../store/db.js";
import { listAccountStates, type AccountState } from "../store/accounts.js";
import { readBuckets, type BucketRow } from "../store/limits.js";
import { LANES, statsQueries } from "../store/stats.js";
import { DispatcherCounters } from "./dispatcher.js";
import type { DispatcherSource, ReceiptCounts, RetentionSource, WebhookSource } from "./sources.js";
export type { DispatcherSource, ReceiptCounts, RetentionSource, WebhookSource } from "./sources.js";

/** Final statuses counted over the recent window (`smsq_messages_completed_last_5m`). */
const FINAL = ["delivered", "undelivered", "failed", "expired", "canceled", "suppressed"];
const COMPLETED_WINDOW_MS = 5 * 60_000;
/** `sent` messages are counted among those submitted within this (see docs/metrics.md). */
const SENT_WINDOW_MS = 24 * 3_600_000;

const CIRCUIT: Record<AccountState["circuit"], number> = { closed: 0, half_open: 1, open: 2 };

export interface MetricsOptions {
  /** Accounts of the route: shown as closed circuits before they have a state row. */
  accounts?: readonly string[];
  /** How long store gauges are reused between scrapes (default 2 s). */
  cacheMs?: number;
  /** Node's process metrics (default true). */
  defaultMetrics?: boolean;
}

/** The one call the dispatcher makes per provider call (see DispatcherDeps.onAttempt). */
export type AttemptObserver = (
  m: { segments: number; sender?: string | null; from_number?: string | null },
  r: Pick<AttemptResult, "outcome" | "errorClass">,
) => void;

interface Snapshot {
  now: Date;
  queue: { k: string; lane: number | null; n: number; due: number; oldest: number | null }[];
  completed: { status: string; n: number }[];
  buckets: BucketRow[];
  accounts: AccountState[];
  ms: number;
}

const BUCKET_LABELS = ["bucket", "account", "sender"] as const;

export class Metrics {
  readonly registry = new Registry();
  private readonly cacheMs: number;
  private snapshot: { at: number; value: Snapshot | null } | null = null;
  private loading: Promise<Snapshot | null> | null = null;
  /** accepted_total per bucket at the previous snapshot, for utilisation. */
  private prevAccepted: { at: number; totals: Map<string, number> } | null = null;
  private dispatcher: DispatcherSource | null = null;
  private receiptBuffer: ReceiptCounts | null = null;
  private webhooks: WebhookSource | null = null;
  private retention: RetentionSource | null = null;
  private readonly receiptsSeen = new Map<
    string,
    { provider: string; status: string; n: number }
  >();

  // In-process, incremented as things happen.
  private readonly attempts = new Counter({
    name: "smsq_provider_attempts_total",
    help: "Provider calls made by this process (sends and reconciliation lookups), by provider, account, outcome (accepted, failed, reconciled) and error class (none when accepted).",
    labelNames: ["provider", "account", "outcome", "error_class"] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: "smsq_provider_call_duration_seconds",
    help: "Duration of provider calls made by this process, in seconds.",
    labelNames: ["provider", "account", "outcome"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly segments = new Counter({
    name: "smsq_segments_accepted_total",
    help: "Segments the provider accepted from this process, by provider, account and sender (the message's from, or the pool sender it was given).",
    labelNames: ["provider", "account", "sender"] as const,
    registers: [this.registry],
  });
  // In-process, read from the counters other parts keep, at scrape time.
  private readonly receipts = new Counter({
    name: "smsq_receipts_total",
    help: "Delivery receipts this process received (status webhooks and the sandbox), by provider and the status they report.",
    labelNames: ["provider", "status"] as const,
    registers: [this.registry],
  });
  private readonly receiptResults = new Counter({
    name: "smsq_receipts_processed_total",
    help: "Receipts this process processed, by result: applied (moved a message), duplicate, ignored (late or stale), held (overtook the record of its send; kept in the store), held_applied (a held receipt applied once the send was recorded).",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });
  private readonly webhookAccepted = new Counter({
    name: "smsq_webhook_requests_accepted_total",
    help: "Provider webhook requests whose signature checked out.",
    registers: [this.registry],
  });
  private readonly webhookRejected = new Counter({
    name: "smsq_webhook_rejections_total",
    help: "Provider webhook requests refused with 403, by reason (bad_signature, missing_signature, unknown_account, …).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  private readonly dispatch = new DispatcherCounters(this.registry);
  private readonly retentionRuns = new Counter({
    name: "smsq_retention_runs_total",
    help: "Retention runs this process made.",
    registers: [this.registry],
  });
  private readonly retentionRows = new Counter({
    name: "smsq_retention_rows_total",
    help: "Rows retention changed in this process's runs: bodies redacted; attempts, events and messages deleted.",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });

  // From the store, cached.
  private readonly storeUp = new Gauge({
    name: "smsq_store_up",
    help: "1 when the last read of the store for these metrics succeeded, else 0 (the store gauges are then left out).",
    registers: [this.registry],
  });
  private readonly storeSeconds = new Gauge({
    name: "smsq_metrics_store_read_seconds",
    help: "How long the last read of the store for these metrics took.",
    registers: [this.registry],
  });
  private readonly messages = new Gauge({
    name: "smsq_messages",
    help: "Messages now in each non-final status: scheduled, queued, sending exactly; sent (accepted, waiting for a receipt) among messages submitted in the last 24 hours.",
    labelNames: ["status"] as const,
    registers: [this.registry],
  });
  private readonly completed = new Gauge({
    name: "smsq_messages_completed_last_5m",
    help: "Messages that reached each final status in the last 5 minutes.",
    labelNames: ["status"] as const,
    registers: [this.registry],
  });
  private readonly queueDepth = new Gauge({
    name: "smsq_queue_depth",
    help: "Queued messages per lane (due now or later: a retry's backoff, a cooldown).",
    labelNames: ["lane"] as const,
    registers: [this.registry],
  });
  private readonly queueDue = new Gauge({
    name: "smsq_queue_due",
    help: "Queued messages per lane that are due now.",
    labelNames: ["lane"] as const,
    registers: [this.registry],
  });
  private readonly queueAge = new Gauge({
    name: "smsq_queue_oldest_due_age_seconds",
    help: "How long the oldest due message of each lane has waited since it became due (0 when none is due).",
    labelNames: ["lane"] as const,
    registers: [this.registry],
  });
  private readonly rateConfigured = new Gauge({
    name: "smsq_rate_limit_configured_segments_per_second",
    help: "Each token bucket's configured rate (its ceiling), in segments per second.",
    labelNames: BUCKET_LABELS,
    registers: [this.registry],
  });
  private readonly rateLearned = new Gauge({
    name: "smsq_rate_limit_learned_segments_per_second",
    help: "Each token bucket's working rate, learned from the provider's rate limits (AIMD); at most the configured rate.",
    labelNames: BUCKET_LABELS,
    registers: [this.registry],
  });
  private readonly rateUtilisation = new Gauge({
    name: "smsq_rate_limit_utilisation_ratio",
    help: "Messages accepted through each bucket per second, all workers, between this process's last two reads of the store, divided by its configured rate (1 = at the ceiling; counts messages, not segments).",
    labelNames: BUCKET_LABELS,
    registers: [this.registry],
  });
  private readonly rateBacklog = new Gauge({
    name: "smsq_rate_limit_backlog_seconds",
    help: "How far ahead of now each bucket's slots are already taken (0 when it has room now).",
    labelNames: BUCKET_LABELS,
    registers: [this.registry],
  });
  private readonly rateAccepted = new Counter({
    name: "smsq_rate_limit_accepted_total",
    help: "Messages accepted through each bucket, all workers (credited at the worker's next claim through it).",
    labelNames: BUCKET_LABELS,
    registers: [this.registry],
  });
  private readonly rateLimited = new Counter({
    name: "smsq_rate_limit_limited_total",
    help: "Rate-limit refusals from the provider charged to each bucket, all workers.",
    labelNames: BUCKET_LABELS,
    registers: [this.registry],
  });
  private readonly circuit = new Gauge({
    name: "smsq_circuit_state",
    help: "Each account's circuit breaker: 0 closed, 1 half-open, 2 open.",
    labelNames: ["account"] as const,
    registers: [this.registry],
  });
  private readonly cooldown = new Gauge({
    name: "smsq_account_cooldown_seconds",
    help: "Seconds left of each account's rate-limit cooldown (0 when none).",
    labelNames: ["account"] as const,
    registers: [this.registry],
  });
  private readonly segmentsToday = new Gauge({
    name: "smsq_account_segments_today",
    help: "Segments each account has sent today (UTC), all workers: what the daily budget counts.",
    labelNames: ["account"] as const,
    registers: [this.registry],
  });

  constructor(
    private readonly db: Db,
    private readonly o: MetricsOptions = {},
  ) {
    this.cacheMs = o.cacheMs ?? 2000;
    if (o.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** The content type of `render()`'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Connects the counters other parts keep; call once each is built. */
  attach(src: {
    dispatcher?: DispatcherSource | null;
    receipts?: ReceiptCounts | null;
    webhooks?: WebhookSource | null;
    retention?: RetentionSource | null;
  }): void {
    if (src.dispatcher !== undefined) this.dispatcher = src.dispatcher;
    if (src.receipts !== undefined) this.receiptBuffer = src.receipts;
    if (src.webhooks !== undefined) this.webhooks = src.webhooks;
    if (src.retention !== undefined) this.retention = src.retention;
  }

  /** The dispatcher's hook: one provider call (or none, when the step made no call). */
  readonly onAttempt: AttemptObserver = (m, r) => {
    const a = r.outcome.attempt;
    if (!a) return;
    this.attempts.inc({
      provider: a.provider,
      account: a.account,
      outcome: a.outcome,
      error_class: r.errorClass ?? "none",
    });
    const seconds = (a.finishedAt.getTime() - a.startedAt.getTime()) / 1000;
    if (Number.isFinite(seconds) && seconds >= 0) {
      this.latency.observe(
        { provider: a.provider, account: a.account, outcome: a.outcome },
        seconds,
      );
    }
    if (a.outcome === "accepted") {
      this.segments.inc(
        { provider: a.provider, account: a.account, sender: m.from_number ?? m.sender ?? "" },
        m.segments,
      );
    }
  };

  /** Counts a receipt reported in process (the sandbox's), before it is applied. */
  onReceipt(r: Pick<Receipt, "provider" | "status">): void {
    const key = `${r.provider}\u0000${r.status}`;
    const e = this.receiptsSeen.get(key) ?? { provider: r.provider, status: r.status, n: 0 };
    e.n += 1;
    this.receiptsSeen.set(key, e);
  }

  /** The registry's text, with the store gauges at most `cacheMs` old. */
  async render(): Promise<string> {
    await this.refresh();
    this.readCounters();
    return this.registry.metrics();
  }

  private async refresh(): Promise<void> {
    const t = Date.now();
    if (this.snapshot && t - this.snapshot.at < this.cacheMs) return;
    // Concurrent scrapes share one read.
    this.loading ??= this.read().finally(() => {
      this.loading = null;
    });
    const value = await this.loading;
    if (!this.snapshot || this.snapshot.at < t) {
      this.snapshot = { at: Date.now(), value };
      this.apply(value);
    }
  }

  private async read(): Promise<Snapshot | null> {
    const started = performance.now();
    try {
      const nowRow = await this.db.query<{ now: Date }>("select now() as now");
      const now = new Date(nowRow[0]?.now ?? Date.now());
      const q = statsQueries(new Date(now.getTime() - SENT_WINDOW_MS), now, 60).queue;
      const [queue, completed, buckets, accounts] = await Promise.all([
        this.db.query<Snapshot["queue"][number]>(q.sql, q.params),
        // messages_completed_idx: the last 5 minutes' final messages only.
        this.db.query<{ status: string; n: number }>(
          `select status, count(*)::int as n from smsq.messages
           where completed_at > $1::timestamptz and completed_at <= $2::timestamptz
           group by status`,
          [new Date(now.getTime() - COMPLETED_WINDOW_MS).toISOString(), now.toISOString()],
        ),
        readBuckets(this.db),
        listAccountStates(this.db),
      ]);
      return { now, queue, completed, buckets, accounts, ms: performance.now() - started };
    } catch {
      return null;
    }
  }

  private apply(s: Snapshot | null): void {
    for (const g of [
      this.messages,
      this.completed,
      this.queueDepth,
      this.queueDue,
      this.queueAge,
      this.rateConfigured,
      this.rateLearned,
      this.rateUtilisation,
      this.rateBacklog,
      this.circuit,
      this.cooldown,
      this.segmentsToday,
    ]) {
      g.reset();
    }
    this.rateAccepted.reset();
    this.rateLimited.reset();
    this.storeUp.set(s ? 1 : 0);
    if (!s) return;
    this.storeSeconds.set(s.ms / 1000);

    const byStatus = new Map<string, number>(
      ["scheduled", "queued", "sending", "sent"].map((x) => [x, 0]),
    );
    for (const l of LANES) {
      this.queueDepth.set({ lane: l }, 0);
      this.queueDue.set({ lane: l }, 0);
      this.queueAge.set({ lane: l }, 0);
    }
    const laneName = (lane: number | null) =>
      LANES[Math.max(0, Math.min(LANES.length - 1, lane ?? 0))] as string;
    for (const r of s.queue) {
      byStatus.set(r.k, (byStatus.get(r.k) ?? 0) + r.n);
      if (r.k !== "queued") continue;
      const lane = laneName(r.lane);
      this.queueDepth.set({ lane }, r.n);
      this.queueDue.set({ lane }, r.due);
      this.queueAge.set({ lane }, Math.max(0, r.oldest ?? 0));
    }
    for (const [status, n] of byStatus) this.messages.set({ status }, n);
    const done = new Map(s.completed.map((r) => [r.status, r.n]));
    for (const status of FINAL) this.completed.set({ status }, done.get(status) ?? 0);

    const nowMs = s.now.getTime();
    const prev = this.prevAccepted;
    const totals = new Map<string, number>();
    for (const b of s.buckets) {
      const l: LabelValues<(typeof BUCKET_LABELS)[number]> = {
        bucket: b.key,
        account: b.account ?? "",
        sender: b.sender ?? "",
      };
      if (b.ceiling !== null) this.rateConfigured.set(l, b.ceiling);
      if (b.rate !== null) this.rateLearned.set(l, b.rate);
      this.rateBacklog.set(l, Math.max(0, (b.tat - nowMs) / 1000));
      this.rateAccepted.inc(l, b.accepted_total);
      this.rateLimited.inc(l, b.limited_total);
      totals.set(b.key, b.accepted_total);
      const before = prev?.totals.get(b.key);
      const seconds = prev ? (nowMs - prev.at) / 1000 : 0;
      if (b.ceiling && before !== undefined && seconds >= 1) {
        this.rateUtilisation.set(l, Math.max(0, b.accepted_total - before) / seconds / b.ceiling);
      }
    }
    this.prevAccepted = { at: nowMs, totals };

    const states = new Map(s.accounts.map((a) => [a.account, a]));
    const names = new Set([...(this.o.accounts ?? []), ...states.keys()]);
    for (const account of names) {
      const a = states.get(account);
      this.circuit.set({ account }, CIRCUIT[a?.circuit ?? "closed"]);
      const until = a?.cooldownUntil ? new Date(a.cooldownUntil).getTime() : 0;
      this.cooldown.set({ account }, Math.max(0, (until - nowMs) / 1000));
      this.segmentsToday.set({ account }, a?.segmentsToday ?? 0);
    }
  }

  /** Copies the counters other parts keep into their series. */
  private readCounters(): void {
    const set = (c: Counter<string>, v: number, labels?: Record<string, string>) => {
      if (labels) c.inc(labels, v);
      else c.inc(v);
    };

    this.receipts.reset();
    const seen = new Map<string, { provider: string; status: string; n: number }>();
    const add = (provider: string, status: string, n: number) => {
      const key = `${provider}\u0000${status}`;
      const e = seen.get(key) ?? { provider, status, n: 0 };
      e.n += n;
      seen.set(key, e);
    };
    for (const e of this.receiptsSeen.values()) add(e.provider, e.status, e.n);
    for (const [provider, statuses] of Object.entries(this.webhooks?.receipts.byStatus ?? {})) {
      for (const [status, n] of Object.entries(statuses)) add(provider, status, n);
    }
    for (const e of seen.values()) {
      set(this.receipts, e.n, { provider: e.provider, status: e.status });
    }

    this.receiptResults.reset();
    const results = { applied: 0, duplicate: 0, ignored: 0, held: 0 };
    for (const c of [this.receiptBuffer, this.webhooks?.receipts]) {
      if (!c) continue;
      results.applied += c.applied;
      results.duplicate += c.duplicates;
      results.ignored += c.ignored;
      results.held += c.held;
    }
    for (const [result, n] of Object.entries(results)) set(this.receiptResults, n, { result });
    set(this.receiptResults, this.dispatcher?.stats.heldReceiptsApplied ?? 0, {
      result: "held_applied",
    });

    this.webhookAccepted.reset();
    this.webhookRejected.reset();
    if (this.webhooks) {
      set(this.webhookAccepted, this.webhooks.accepted);
      for (const [reason, n] of Object.entries(this.webhooks.rejected)) {
        set(this.webhookRejected, n, { reason });
      }
    }

    this.dispatch.read(this.dispatcher);

    this.retentionRuns.reset();
    this.retentionRows.reset();
    if (this.retention) {
      set(this.retentionRuns, this.retention.runs);
      for (const [kind, n] of Object.entries(this.retention.totals)) {
        set(this.retentionRows, n, { kind });
      }
    }
  }
}
