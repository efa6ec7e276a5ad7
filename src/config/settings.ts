/**
 * Every setting smsq reads, in one table: its environment variable, its key in the config file,
 * its default and how to parse it. docs/configuration.md lists the same table for people.
 */
import { isKnownRegion } from "../messages/phone.js";

export type Parse<T> = (raw: string) => T | { error: string };

const int =
  (min: number, max: number): Parse<number> =>
  (raw) => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      return { error: `must be an integer from ${min} to ${max} (got "${raw}")` };
    }
    return n;
  };

const str: Parse<string> = (raw) => raw;

const num =
  (min: number, max: number): Parse<number> =>
  (raw) => {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
      return { error: `must be a number from ${min} to ${max} (got "${raw}")` };
    }
    return n;
  };

const bool: Parse<boolean> = (raw) =>
  raw === "true" || raw === "1"
    ? true
    : raw === "false" || raw === "0"
      ? false
      : { error: `must be true or false (got "${raw}")` };

const list: Parse<string[]> = (raw) => {
  const items = raw
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x.length > 0);
  return items.length > 0 ? items : { error: "must list at least one value when set" };
};

const shares: Parse<{ normal: number; low: number; cycle: number }> = (raw) => {
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$/.exec(raw);
  const [normal, low, cycle] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  if (!m || cycle < 1 || cycle > 1000 || normal + low > cycle) {
    return {
      error: `must be "normal,low,cycle" with normal + low <= cycle, e.g. "1,1,10" (got "${raw}")`,
    };
  }
  return { normal, low, cycle };
};

const oneOf =
  <T extends string>(...values: T[]): Parse<T> =>
  (raw) =>
    (values as string[]).includes(raw)
      ? (raw as T)
      : { error: `must be one of ${values.join(", ")} (got "${raw}")` };

const postgresUrl: Parse<string> = (raw) => {
  try {
    const u = new URL(raw);
    if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") throw new Error();
    return raw;
  } catch {
    return { error: "must be a postgres:// or postgresql:// URL" };
  }
};

const apiKeys: Parse<string[]> = (raw) => {
  const keys = raw
    .split(",")
    .map((k) => k.trim())
    .filter((k) => k.length > 0);
  if (keys.length === 0) return { error: "must list at least one key when set" };
  const short = keys.findIndex((k) => k.length < 16);
  if (short >= 0) return { error: `key ${short + 1} is shorter than 16 characters` };
  if (keys.some((k) => /\s/.test(k))) return { error: "keys must not contain spaces" };
  return keys;
};

const region: Parse<string> = (raw) => {
  const r = raw.trim().toUpperCase();
  return isKnownRegion(r)
    ? r
    : { error: `must be an ISO 3166 region code such as US or GB (got "${raw}")` };
};

const host: Parse<string> = (raw) =>
  /^[A-Za-z0-9.:[\]-]+$/.test(raw)
    ? raw
    : { error: `is not a host name or address (got "${raw}")` };

const httpUrl: Parse<string> = (raw) => {
  try {
    const u = new URL(raw);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    return raw.replace(/\/+$/, "");
  } catch {
    return { error: `must be an http:// or https:// URL (got "${raw}")` };
  }
};

const pattern =
  (re: RegExp, what: string): Parse<string> =>
  (raw) =>
    re.test(raw.trim()) ? raw.trim() : { error: `must be ${what}` };

// Never echo a secret's value in an error.
const secret: Parse<string> = (raw) =>
  raw.trim().length > 0 && !/\s/.test(raw.trim())
    ? raw.trim()
    : { error: "must be a non-empty value without spaces" };

export interface SettingSpec<T> {
  env: string;
  key: string;
  parse: Parse<T>;
  default: T;
  doc: string;
}

const spec = <T>(s: SettingSpec<T>) => s;

/** The settings table. Order is the order problems are reported in. */
export const SETTINGS = {
  port: spec({
    env: "SMSQ_PORT",
    key: "port",
    parse: int(0, 65535),
    default: 8080,
    doc: "HTTP port.",
  }),
  host: spec<string | null>({
    env: "SMSQ_HOST",
    key: "host",
    parse: host,
    default: null,
    doc: "Address to listen on; 0.0.0.0 when API keys are set, else forced to 127.0.0.1.",
  }),
  dataDir: spec({
    env: "SMSQ_DATA_DIR",
    key: "dataDir",
    parse: str,
    default: "./.smsq",
    doc: "Directory of the embedded store (PGlite).",
  }),
  databaseUrl: spec<string | null>({
    env: "SMSQ_DATABASE_URL",
    key: "databaseUrl",
    parse: postgresUrl,
    default: null,
    doc: "PostgreSQL server URL; when set, used instead of the embedded store.",
  }),
  apiKeys: spec<string[]>({
    env: "SMSQ_API_KEYS",
    key: "apiKeys",
    parse: apiKeys,
    default: [],
    doc: "Comma-separated API keys (16+ characters each) accepted as Bearer tokens.",
  }),
  defaultRegion: spec({
    env: "SMSQ_DEFAULT_REGION",
    key: "defaultRegion",
    parse: region,
    default: "US",
    doc: "Region for numbers written without a country code.",
  }),
  maxSegments: spec({
    env: "SMSQ_MAX_SEGMENTS",
    key: "maxSegments",
    parse: int(1, 100),
    default: 10,
    doc: "Largest message accepted, in segments.",
  }),
  maxRequestBytes: spec({
    env: "SMSQ_MAX_REQUEST_BYTES",
    key: "maxRequestBytes",
    parse: int(1024, 100 * 1024 * 1024),
    default: 5 * 1024 * 1024,
    doc: "Largest request body; larger ones get 413.",
  }),
  provider: spec<"sandbox" | "twilio" | "dialpad" | null>({
    env: "SMSQ_PROVIDER",
    key: "provider",
    parse: oneOf("sandbox", "twilio", "dialpad"),
    default: null,
    doc: "Provider to send through: the configured real one (Twilio first), else `sandbox`.",
  }),
  route: spec<string[]>({
    env: "SMSQ_ROUTE",
    key: "route",
    parse: (raw) => {
      const names = raw
        .split(",")
        .map((n) => n.trim())
        .filter((n) => n.length > 0);
      return names.length > 0 ? names : { error: "must list at least one account name" };
    },
    default: [],
    doc: "Accounts in failover order, comma-separated names (e.g. twilio-main,twilio-backup,dialpad); default: the one account sent through.",
  }),
  publicUrl: spec<string | null>({
    env: "SMSQ_PUBLIC_URL",
    key: "publicUrl",
    parse: httpUrl,
    default: null,
    doc: "Public base URL of this smsq, for provider status callbacks (e.g. https://sms.example.com).",
  }),
  twilioAccountSid: spec<string | null>({
    env: "TWILIO_ACCOUNT_SID",
    key: "twilioAccountSid",
    parse: pattern(/^AC[0-9a-fA-F]{32}$/, "AC followed by 32 hex digits"),
    default: null,
    doc: "Twilio Account SID.",
  }),
  twilioAuthToken: spec<string | null>({
    env: "TWILIO_AUTH_TOKEN",
    key: "twilioAuthToken",
    parse: secret,
    default: null,
    doc: "Twilio Auth Token: API auth, and the key status callbacks are signed with.",
  }),
  twilioApiKeySid: spec<string | null>({
    env: "TWILIO_API_KEY_SID",
    key: "twilioApiKeySid",
    parse: pattern(/^SK[0-9a-fA-F]{32}$/, "SK followed by 32 hex digits"),
    default: null,
    doc: "Twilio API Key SID (with its secret, instead of the Auth Token for API calls).",
  }),
  twilioApiKeySecret: spec<string | null>({
    env: "TWILIO_API_KEY_SECRET",
    key: "twilioApiKeySecret",
    parse: secret,
    default: null,
    doc: "Twilio API Key secret.",
  }),
  twilioFrom: spec<string | null>({
    env: "TWILIO_FROM",
    key: "twilioFrom",
    parse: str,
    default: null,
    doc: "Default Twilio sender (number, short code or alphanumeric id).",
  }),
  twilioMessagingServiceSid: spec<string | null>({
    env: "TWILIO_MESSAGING_SERVICE_SID",
    key: "twilioMessagingServiceSid",
    parse: pattern(/^MG[0-9a-fA-F]{32}$/, "MG followed by 32 hex digits"),
    default: null,
    doc: "Twilio Messaging Service to send through (instead of TWILIO_FROM).",
  }),
  twilioBaseUrl: spec({
    env: "TWILIO_BASE_URL",
    key: "twilioBaseUrl",
    parse: httpUrl,
    default: "https://api.twilio.com",
    doc: "Twilio API base URL (a Twilio-compatible API, or the simulator).",
  }),
  dialpadApiToken: spec<string | null>({
    env: "DIALPAD_API_TOKEN",
    key: "dialpadApiToken",
    parse: secret,
    default: null,
    doc: "Dialpad API key.",
  }),
  dialpadFrom: spec<string | null>({
    env: "DIALPAD_FROM",
    key: "dialpadFrom",
    parse: str,
    default: null,
    doc: "Dialpad sender number (assigned to a user or group).",
  }),
  dialpadBaseUrl: spec({
    env: "DIALPAD_BASE_URL",
    key: "dialpadBaseUrl",
    parse: httpUrl,
    default: "https://dialpad.com",
    doc: "Dialpad API base URL (or the simulator).",
  }),
  dialpadWebhookSecret: spec<string | null>({
    env: "DIALPAD_WEBHOOK_SECRET",
    key: "dialpadWebhookSecret",
    parse: secret,
    default: null,
    doc: "Secret Dialpad signs SMS event webhooks with (HS256 JWT).",
  }),
  sandboxLog: spec<string | null>({
    env: "SMSQ_SANDBOX_LOG",
    key: "sandboxLog",
    parse: str,
    default: null,
    doc: "File the sandbox appends one JSON line to per send.",
  }),
  maxQueued: spec<number | null>({
    env: "SMSQ_MAX_QUEUED",
    key: "maxQueued",
    parse: int(1, 1_000_000_000),
    default: null,
    doc: "Most messages waiting in the queue; beyond it submissions get 429 with Retry-After.",
  }),
  maxQueuedPerKey: spec<number | null>({
    env: "SMSQ_MAX_QUEUED_PER_KEY",
    key: "maxQueuedPerKey",
    parse: int(1, 1_000_000_000),
    default: null,
    doc: "Most messages waiting per API key; beyond it that key's submissions get 429.",
  }),
  batchSize: spec({
    env: "SMSQ_CLAIM_BATCH",
    key: "batchSize",
    parse: int(1, 1000),
    default: 50,
    doc: "Messages claimed per round trip.",
  }),
  concurrency: spec({
    env: "SMSQ_WORKER_CONCURRENCY",
    key: "concurrency",
    parse: int(1, 10000),
    default: 200,
    doc: "Provider calls in flight per process.",
  }),
  pollMs: spec({
    env: "SMSQ_POLL_INTERVAL_MS",
    key: "pollMs",
    parse: int(10, 60000),
    default: 250,
    doc: "Idle wait between claims when nothing is due.",
  }),
  leaseMs: spec({
    env: "SMSQ_LEASE_MS",
    key: "leaseMs",
    parse: int(1000, 3600000),
    default: 120000,
    doc: "How long a claimed message is held before another worker may take it back.",
  }),
  sendTimeoutMs: spec({
    env: "SMSQ_SEND_TIMEOUT_MS",
    key: "sendTimeoutMs",
    parse: int(100, 600000),
    default: 30000,
    doc: "Total timeout of one provider call.",
  }),
  maxAttempts: spec({
    env: "SMSQ_MAX_ATTEMPTS",
    key: "maxAttempts",
    parse: int(1, 100),
    default: 5,
    doc: "Provider calls per message before it ends failed.",
  }),
  inDoubtPolicy: spec<"reconcile" | "resend" | "fail" | null>({
    env: "SMSQ_IN_DOUBT_POLICY",
    key: "inDoubtPolicy",
    parse: oneOf("reconcile", "resend", "fail"),
    default: null,
    doc: "A message whose last attempt may have reached the provider: reconcile with the provider first (default where it can be asked: Twilio), resend (default elsewhere), or fail.",
  }),
  alertWebhookUrl: spec<string | null>({
    env: "SMSQ_ALERT_WEBHOOK_URL",
    key: "alertWebhookUrl",
    parse: httpUrl,
    default: null,
    doc: "URL that alerts (circuit opened/closed, account failures) are POSTed to as JSON.",
  }),
  resendUndelivered: spec<boolean>({
    env: "SMSQ_RESEND_UNDELIVERED",
    key: "resendUndelivered",
    parse: (raw) =>
      raw === "true" || raw === "1"
        ? true
        : raw === "false" || raw === "0"
          ? false
          : { error: `must be true or false (got "${raw}")` },
    default: false,
    doc: "Re-send once, an hour later, a message undelivered for a transient carrier reason (Twilio 30003, 30008; Dialpad time_out, internal_error). Off: undelivered is final. An account's own `resendUndelivered` in the file wins.",
  }),
  dailySegmentBudget: spec<number | null>({
    env: "SMSQ_DAILY_SEGMENT_BUDGET",
    key: "dailySegmentBudget",
    parse: int(1, 1_000_000_000),
    default: null,
    doc: "Segments each account may send per UTC day; beyond it its messages wait (an account's own `dailySegmentBudget` in the file wins).",
  }),
  twilioMps: spec<number | null>({
    env: "TWILIO_MPS",
    key: "twilioMps",
    parse: num(0.001, 10_000),
    default: null,
    doc: "Segments per second each Twilio sender may send (default by sender type: US long code 1, toll-free 3, short code 100).",
  }),
  twilioAccountMps: spec<number | null>({
    env: "TWILIO_ACCOUNT_MPS",
    key: "twilioAccountMps",
    parse: num(0.001, 10_000),
    default: null,
    doc: "Segments per second for the whole Twilio account (all its senders); none by default.",
  }),
  twilioSenders: spec<string[]>({
    env: "TWILIO_SENDERS",
    key: "twilioSenders",
    parse: list,
    default: [],
    doc: "Comma-separated sender pool: a message without `from` takes one (spread by capacity, or sticky per recipient).",
  }),
  twilioMaxInFlight: spec<number | null>({
    env: "TWILIO_MAX_IN_FLIGHT",
    key: "twilioMaxInFlight",
    parse: int(1, 100_000),
    default: null,
    doc: "Requests in flight to the Twilio account across all workers (its REST concurrency limit answers 429 beyond it).",
  }),
  dialpadRatePerMinute: spec<number>({
    env: "DIALPAD_RATE_PER_MINUTE",
    key: "dialpadRatePerMinute",
    parse: num(0.01, 1_000_000),
    default: 100,
    doc: "Dialpad sends per minute for the API key (Dialpad's tier 0 limit is 100).",
  }),
  dialpadRateWindowSeconds: spec<number>({
    env: "DIALPAD_RATE_WINDOW_SECONDS",
    key: "dialpadRateWindowSeconds",
    parse: num(1, 86_400),
    default: 60,
    doc: "The window Dialpad counts DIALPAD_RATE_PER_MINUTE over; on a refusal the adaptive rate drops to what this window accepted.",
  }),
  dialpadSenders: spec<string[]>({
    env: "DIALPAD_SENDERS",
    key: "dialpadSenders",
    parse: list,
    default: [],
    doc: "Comma-separated Dialpad sender pool (see TWILIO_SENDERS).",
  }),
  globalRate: spec<number | null>({
    env: "SMSQ_GLOBAL_RATE",
    key: "globalRate",
    parse: num(0.001, 1_000_000),
    default: null,
    doc: "Optional cap on segments per second across every account.",
  }),
  rateHeadroom: spec<number>({
    env: "SMSQ_RATE_HEADROOM",
    key: "rateHeadroom",
    parse: num(0, 0.5),
    default: 0.02,
    doc: "Share of every rate kept back so network jitter never tips a second over a provider's limit.",
  }),
  stickySenders: spec<boolean>({
    env: "SMSQ_STICKY_SENDERS",
    key: "stickySenders",
    parse: bool,
    default: false,
    doc: "Pooled senders stick to recipients: the same person always hears from the same number.",
  }),
  adaptiveRate: spec<boolean>({
    env: "SMSQ_ADAPTIVE_RATE",
    key: "adaptiveRate",
    parse: bool,
    default: true,
    doc: "Lower a bucket's working rate when the provider rate-limits (x0.7) and climb back on success (AIMD).",
  }),
  laneShares: spec<{ normal: number; low: number; cycle: number }>({
    env: "SMSQ_LANE_SHARES",
    key: "laneShares",
    parse: shares,
    default: { normal: 1, low: 1, cycle: 10 },
    doc: 'Claim rounds reserved for the lower lanes, "normal,low,cycle": by default 1 round in 10 for normal and 1 for low, so bulk never starves.',
  }),
  alertQueueAgeMs: spec({
    env: "SMSQ_ALERT_QUEUE_AGE_MS",
    key: "alertQueueAgeMs",
    parse: int(1000, 86_400_000),
    default: 300_000,
    doc: "Alert when the oldest due message has waited longer than this.",
  }),
  alertDeadLetters: spec({
    env: "SMSQ_ALERT_DEAD_LETTERS",
    key: "alertDeadLetters",
    parse: int(1, 10_000_000),
    default: 100,
    doc: "Alert when more messages than this end failed within 5 minutes.",
  }),
  retainBodiesDays: spec({
    env: "SMSQ_RETAIN_BODIES_DAYS",
    key: "retainBodiesDays",
    parse: int(0, 36_500),
    default: 30,
    doc: "Replace a message's body with '' this many days after it was sent or ended (segments and encoding are kept); 0 keeps bodies. See docs/retention.md.",
  }),
  retainHistoryDays: spec({
    env: "SMSQ_RETAIN_HISTORY_DAYS",
    key: "retainHistoryDays",
    parse: int(0, 36_500),
    default: 90,
    doc: "Delete attempts and message events older than this many days; 0 keeps them.",
  }),
  retainMessagesDays: spec({
    env: "SMSQ_RETAIN_MESSAGES_DAYS",
    key: "retainMessagesDays",
    parse: int(0, 36_500),
    default: 0,
    doc: "Delete messages this many days after they reached a final status, with their attempts, events and idempotency keys; 0 (the default) keeps them. Messages not yet final are never deleted.",
  }),
  retentionIntervalMs: spec({
    env: "SMSQ_RETENTION_INTERVAL_MS",
    key: "retentionIntervalMs",
    parse: int(10_000, 86_400_000),
    default: 300_000,
    doc: "Least time between two retention runs, across all workers (one worker at a time runs it).",
  }),
  metricsPort: spec<number | null>({
    env: "SMSQ_METRICS_PORT",
    key: "metricsPort",
    parse: int(0, 65535),
    default: null,
    doc: "Also serve `GET /metrics` on this port, from a small server of its own: for `smsq worker`, which has no API. Same host and key rules as the API.",
  }),
  metricsPublic: spec<boolean>({
    env: "SMSQ_METRICS_PUBLIC",
    key: "metricsPublic",
    parse: bool,
    default: false,
    doc: "Serve `GET /metrics` without an API key even when API keys are set (by default scrapers send one as `Authorization: Bearer <key>`).",
  }),
  logLevel: spec({
    env: "SMSQ_LOG_LEVEL",
    key: "logLevel",
    parse: oneOf("fatal", "error", "warn", "info", "debug", "trace", "silent"),
    default: "info" as const,
    doc: "Log level.",
  }),
  logFormat: spec<"json" | "pretty">({
    env: "SMSQ_LOG_FORMAT",
    key: "logFormat",
    parse: oneOf("json", "pretty"),
    default: "json",
    doc: "Log format: `json`, one object per line for log shippers (the default, also on a terminal, so that output never changes with where it goes), or `pretty`, readable lines for a terminal (time, level, message, key=value; colours when the output is a terminal and NO_COLOR is unset). Both mask phone numbers (+1415•••••71) and leave out bodies and secrets.",
  }),
};

export type SettingName = keyof typeof SETTINGS;
