/**
 * Status events after a message is accepted: a scheduler that runs each message's events in
 * order after a delay (so the receiver sees exactly the order we chose, including a deliberate
 * out-of-order one), counts what is pending for drainCallbacks(), and a poster that delivers
 * webhooks over keep-alive connections with Twilio-like retries.
 */
import http from "node:http";
import https from "node:https";

/** One status event of a message: applies the status and posts its callback, if any. */
export type Step = () => Promise<void>;

interface Plan {
  timer: NodeJS.Timeout | null;
  remaining: number;
  cancelled: boolean;
}

/** Runs each message's steps in sequence after its delay; tracks what is still pending. */
export class EventScheduler {
  private pending = 0;
  private plans = new Set<Plan>();
  private waiters: (() => void)[] = [];

  /** Runs `steps` one after the other, starting `delayMs` from now. */
  schedule(delayMs: number, steps: Step[]): void {
    if (steps.length === 0) return;
    const plan: Plan = { timer: null, remaining: steps.length, cancelled: false };
    this.pending += steps.length;
    this.plans.add(plan);
    plan.timer = setTimeout(() => void this.run(plan, steps), delayMs);
  }

  /** Steps scheduled or running and not yet finished. */
  pendingCount(): number {
    return this.pending;
  }

  /** Resolves when nothing is pending (at once if nothing is). */
  drain(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Drops every plan not yet finished (reset/close); their remaining steps never run. */
  cancelAll(): void {
    for (const plan of this.plans) {
      plan.cancelled = true;
      if (plan.timer) clearTimeout(plan.timer);
      this.done(plan.remaining);
    }
    this.plans.clear();
  }

  private async run(plan: Plan, steps: Step[]): Promise<void> {
    plan.timer = null;
    for (const step of steps) {
      if (plan.cancelled) return;
      try {
        await step();
      } catch (e) {
        // A step must not break the chain of the others; report it, as it is a simulator bug.
        console.error(`smsq simulator: status event failed: ${(e as Error).message}`);
      }
      if (plan.cancelled) return;
      plan.remaining -= 1;
      this.done(1);
    }
    this.plans.delete(plan);
  }

  private done(n: number): void {
    this.pending -= n;
    if (this.pending === 0 && this.waiters.length > 0) {
      const w = this.waiters;
      this.waiters = [];
      for (const resolve of w) resolve();
    }
  }
}

/** How a webhook is retried. */
export interface RetryPolicy {
  retries: number;
  delayMs: number;
  timeoutMs: number;
}

/** Delivers webhooks over keep-alive connections. */
export class WebhookPoster {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256 });
  private readonly urls = new Map<string, URL>();
  private closed = false;

  /**
   * POSTs `body` to `url`; a connection error, a timeout or a 5xx is retried `retries` times
   * with doubling delays, a 4xx is final (as Twilio does). Resolves with the last HTTP status,
   * or null when no answer came.
   */
  async post(
    url: string,
    headers: Record<string, string>,
    body: string,
    policy: RetryPolicy,
  ): Promise<number | null> {
    let status: number | null = null;
    for (let attempt = 0; attempt <= policy.retries && !this.closed; attempt++) {
      if (attempt > 0) await sleep(policy.delayMs * 2 ** (attempt - 1));
      if (this.closed) break;
      status = await this.once(url, headers, body, policy.timeoutMs);
      if (status !== null && status < 500) return status;
    }
    return status;
  }

  /** Stops retrying and closes the idle connections. */
  close(): void {
    this.closed = true;
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private parse(url: string): URL | null {
    let u = this.urls.get(url);
    if (!u) {
      try {
        u = new URL(url);
      } catch {
        return null;
      }
      if (this.urls.size >= 1000) this.urls.clear();
      this.urls.set(url, u);
    }
    return u;
  }

  private once(
    url: string,
    headers: Record<string, string>,
    body: string,
    timeoutMs: number,
  ): Promise<number | null> {
    const u = this.parse(url);
    if (!u) return Promise.resolve(null);
    const secure = u.protocol === "https:";
    return new Promise((resolve) => {
      const req = (secure ? https : http).request(
        u,
        {
          method: "POST",
          agent: secure ? this.httpsAgent : this.httpAgent,
          headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
          timeout: timeoutMs,
        },
        (res) => {
          res.on("error", () => resolve(null));
          res.on("end", () => resolve(res.statusCode ?? null));
          res.resume();
        },
      );
      req.on("timeout", () => req.destroy(new Error("callback timed out")));
      req.on("error", () => resolve(null));
      req.end(body);
    });
  }
}

/** Resolves after `ms` without keeping the process alive for it. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
