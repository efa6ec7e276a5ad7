/**
 * Alerts: one per condition, not one per message. `raise(key)` alerts when the condition is
 * new; it stays quiet while raised; `resolve(key)` alerts once more when it clears. Each alert
 * goes to the log and, when SMSQ_ALERT_WEBHOOK_URL is set, is POSTed there as JSON (best effort,
 * 5 s timeout, never blocking dispatch).
 */
import type { Logger } from "../log.js";

export type Severity = "warning" | "critical";

export interface Alert {
  key: string;
  state: "raised" | "resolved";
  severity: Severity;
  message: string;
  at: string;
}

export class AlertSink {
  private readonly raised = new Map<string, Alert>();
  readonly sent: Alert[] = [];

  constructor(
    private readonly log: Logger,
    private readonly webhookUrl: string | null = null,
  ) {}

  /** Raises `key` if it is not raised already. */
  raise(key: string, severity: Severity, message: string): void {
    if (this.raised.has(key)) return;
    const a: Alert = { key, state: "raised", severity, message, at: new Date().toISOString() };
    this.raised.set(key, a);
    this.emit(a);
  }

  /** Resolves `key` if it is raised. */
  resolve(key: string, message: string): void {
    const prev = this.raised.get(key);
    if (!prev) return;
    this.raised.delete(key);
    this.emit({
      key,
      state: "resolved",
      severity: prev.severity,
      message,
      at: new Date().toISOString(),
    });
  }

  /** Alerts currently raised. */
  active(): Alert[] {
    return [...this.raised.values()];
  }

  private emit(a: Alert): void {
    this.sent.push(a);
    if (this.sent.length > 1000) this.sent.shift();
    if (a.state === "raised") this.log.warn({ alert: a.key, severity: a.severity }, a.message);
    else this.log.info({ alert: a.key }, a.message);
    if (!this.webhookUrl) return;
    fetch(this.webhookUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(a),
      signal: AbortSignal.timeout(5000),
    }).catch((e: unknown) => this.log.warn({ err: (e as Error).message }, "alert webhook failed"));
  }
}
