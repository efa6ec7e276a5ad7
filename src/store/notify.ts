/**
 * Waking workers in other processes when work arrives: the API sends NOTIFY on a channel after
 * a submit, and every worker on a PostgreSQL server LISTENs on it and claims at once, instead
 * of finding the message at its next poll (250 ms by default: the whole of the submit-to-
 * provider latency on a server, measured by the benchmark at p50 150-240 ms). The poll stays
 * as the safety net: a lost notification only costs one poll interval.
 */
import pg from "pg";
import type { Logger } from "../log.js";
import type { Db } from "./db.js";

/** The channel a submit is announced on. */
export const DUE_CHANNEL = "smsq_due";

/**
 * Sends NOTIFY for submits, coalesced: while one is on its way, further pokes become one more
 * after it. The embedded store needs none (its worker is woken in process).
 */
export class DueNotifier {
  private sending = false;
  private again = false;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
  ) {}

  /** Announces that messages may be due now. Never throws. */
  poke(): void {
    if (this.db.kind !== "postgres") return;
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = true;
    void this.db
      .query("select pg_notify($1, '')", [DUE_CHANNEL])
      .catch((e: unknown) => this.log.debug({ err: e }, "notify failed; workers will poll"))
      .finally(() => {
        this.sending = false;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
  }
}

export interface ListenOptions {
  url: string;
  channel?: string;
  log: Logger;
  /** First reconnect delay; doubles to maxRetryMs (default 250 ms and 10 s). */
  retryMs?: number;
  maxRetryMs?: number;
}

/**
 * A connection of its own that LISTENs on the channel and calls `onNotify` for each
 * notification; it reconnects (and calls `onNotify` once, for whatever it missed) after a
 * lost connection. `close()` stops it.
 */
export class DueListener {
  private client: pg.Client | null = null;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private failures = 0;
  /** Connections made so far (a reconnect counts): for tests and logs. */
  connects = 0;

  constructor(
    private readonly o: ListenOptions,
    private readonly onNotify: () => void,
  ) {}

  /** Connects and listens; resolves once listening (or after the first failure, retrying). */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.o.url,
      application_name: "smsq-listen",
      keepAlive: true,
    });
    const lost = (e?: unknown) => {
      if (this.client !== client) return;
      this.client = null;
      client.removeAllListeners("notification");
      void client.end().catch(() => undefined);
      if (this.closed) return;
      this.failures += 1;
      const wait = Math.min(
        this.o.maxRetryMs ?? 10_000,
        (this.o.retryMs ?? 250) * 2 ** Math.min(this.failures - 1, 8),
      );
      this.o.log.debug({ err: e, waitMs: wait }, "notification connection lost; reconnecting");
      this.timer = setTimeout(() => void this.connect(), wait);
    };
    this.client = client;
    client.on("error", lost);
    client.on("end", () => lost());
    client.on("notification", () => this.onNotify());
    try {
      await client.connect();
      // The channel is a fixed identifier of ours, not input: LISTEN takes no parameters.
      await client.query(`listen ${this.o.channel ?? DUE_CHANNEL}`);
      this.connects += 1;
      this.failures = 0;
      // Anything submitted while it was not listening is found now, not at the next poll.
      if (this.connects > 1) this.onNotify();
    } catch (e) {
      lost(e);
    }
  }

  /** Stops listening and closes its connection. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => undefined);
  }
}
