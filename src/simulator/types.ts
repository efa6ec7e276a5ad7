/**
 * The provider simulator's public types. They live apart from index.ts so the modules that
 * implement the simulator can share them without importing the entry point (no import cycles).
 */

export interface SimTwilioAccount {
  sid: string;
  authToken: string;
  apiKeys?: { sid: string; secret: string }[];
}

export interface SimDialpadAccount {
  apiToken: string;
  webhookUrl?: string;
  webhookSecret?: string;
}

export interface SimRule {
  /** Regex (source string) matched against the E.164 `To`. */
  toPattern: string;
  /** create: the create call fails with HTTP `status` (default 400) and this provider code.
   *  delivery: the message is accepted, then ends `undelivered` (Twilio) / `failed` (Dialpad) with this code. */
  at: "create" | "delivery";
  code: number | string;
  status?: number;
}

export interface SimBehaviour {
  /** Per-sender (From number) throughput limit, in SMS segments per second; null = off (Twilio). */
  senderSegmentsPerSecond: number | null;
  /** What a sender over its segment rate gets: "reject" (429 / 20429 at once) or "queue"
   *  (accepted and delivered later at the sender's rate; 400 / 21611 once the backlog exceeds
   *  `senderQueueSeconds`). Default "reject". */
  senderLimitMode: "reject" | "queue";
  /** "queue" mode: the longest backlog a sender may have, in seconds at its rate (Twilio: 10 h). */
  senderQueueSeconds: number;
  /** Max create requests in flight per account (Twilio's REST concurrency limit); beyond → 429, code 20429; null = off. */
  accountConcurrency: number | null;
  /** Dialpad send limit per minute per API token (rolling 60 s window); null = off. */
  dialpadRatePerMinute: number | null;
  /** The window Dialpad's limit counts over, ms (60,000; shorter to run a scaled test fast). */
  dialpadWindowMs: number;
  /** Status Dialpad answers over its limit: 403 (what the seed incident saw) or 429. */
  dialpadLimitStatus: 403 | 429;
  /** Added latency of each create response, ms. */
  latencyMs: number;
  /** Delay from acceptance to the status callbacks, ms. */
  callbackDelayMs: number;
  /** Also send an intermediate `sent` (Twilio) / `pending` (Dialpad) callback before the final one. */
  sentCallback: boolean;
  /** How many times a failed callback (connection error, timeout or 5xx) is retried; 4xx is not. */
  callbackRetries: number;
  /** Delay before the first callback retry, ms; doubled for each further retry. */
  callbackRetryDelayMs: number;
  /** A callback the receiver has not answered within this many ms counts as failed. */
  callbackTimeoutMs: number;
  /** Fault rates, each 0..1, drawn independently per create request: */
  rate5xx: number; // 500 (Twilio 20500); half after recording the message (ambiguous), half before
  rateTimeout: number; // record the message, then never answer (hold the socket until the client gives up)
  rateDrop: number; // destroy the socket; half the time after recording the message
  rate429: number; // 429 / 20429 without creating
  /** Callback disorder, each 0..1: */
  duplicateCallbackRate: number; // send a callback twice
  outOfOrderRate: number; // send the final status before the `sent` one
  rules: SimRule[];
}

export interface SimLogEntry {
  seq: number;
  at: number; // ms epoch
  provider: "twilio" | "dialpad";
  /** Twilio AccountSid or Dialpad token label ("dialpad-1" etc.; never the token). */
  account: string;
  /** Provider message id if a message was created. */
  id: string | null;
  to: string;
  from: string | null;
  body: string;
  segments: number;
  /** created = a message exists at the provider (it will be delivered or fail by callback); rejected = refused, nothing created */
  outcome: "created" | "rejected";
  /** What the client saw: the HTTP status, or "timeout" / "dropped". */
  response: number | "timeout" | "dropped";
  code: number | string | null;
}

export interface SimulatorOptions {
  host?: string; // default 127.0.0.1
  port?: number; // default 4010; 0 = a free port
  twilio?: { accounts: SimTwilioAccount[] };
  dialpad?: { accounts: SimDialpadAccount[] };
  behaviour?: Partial<SimBehaviour>;
  logFile?: string | null; // JSONL of SimLogEntry, buffered writes
  random?: () => number; // injectable for deterministic tests
  /** Clock for the rate limiters and timestamps (ms epoch); injectable for deterministic tests. */
  clock?: () => number;
  /** Log entries kept in memory (oldest dropped first); the log file keeps everything. Default 200,000. */
  maxLogEntries?: number;
  /** Messages kept for fetch/list (oldest forgotten first). Default 200,000. */
  maxMessages?: number;
}

/** What inbound() and `POST /_sim/inbound` take. */
export interface SimInbound {
  provider: "twilio";
  account?: string;
  from: string;
  to: string;
  body: string;
  url: string;
}

export interface Simulator {
  url: string;
  log(): readonly SimLogEntry[];
  configure(b: Partial<SimBehaviour>): void;
  reset(): void;
  inbound(o: SimInbound): Promise<number>;
  pendingCallbacks(): number;
  drainCallbacks(): Promise<void>;
  close(): Promise<void>;
}
