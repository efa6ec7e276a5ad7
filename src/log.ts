/**
 * Structured logs (pino): one JSON object per line, or readable lines for a terminal
 * (`SMSQ_LOG_FORMAT=pretty`). Phone numbers are masked and message bodies and secrets redacted
 * wherever they appear under a known field name, at any of the first three levels of nesting:
 * call sites should not log them in the first place, and this is the second line of defence.
 * Phone numbers inside URLs, error messages and log messages are masked too.
 */
import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

export type LogFormat = "json" | "pretty";

export interface LoggerOptions {
  /** `json` (default) or `pretty`. */
  format?: LogFormat;
  /** Where lines go (default: standard output). */
  destination?: DestinationStream;
  /** Colours in pretty mode; default: when the destination is a terminal and NO_COLOR is unset. */
  colors?: boolean;
}

const REDACTED = "[redacted]";

// Field names that hold a phone number: masked, not removed, so a line still tells numbers apart.
const PHONE_KEYS = [
  "to",
  "from",
  "To",
  "From",
  "phone",
  "phoneNumber",
  "phone_number",
  "toNumber",
  "to_number",
  "fromNumber",
  "from_number",
  "recipient",
  "msisdn",
];
// Free text that may carry a number (URLs with /v1/suppressions/+1…, driver error messages).
const TEXT_KEYS = ["url", "message", "stack", "detail"];
const TEXT_PATHS = ["url", "*.url", "err.message", "err.stack", "err.detail", "err.cause.message"];
// Message bodies, credentials and secrets (the names smsq's config and providers use): removed.
const SECRET_KEYS = [
  "body",
  "Body",
  "text",
  "authorization",
  "Authorization",
  "cookie",
  "set-cookie",
  "x-twilio-signature",
  "apiKey",
  "apiKeys",
  "apiKeySecret",
  "apiToken",
  "authToken",
  "accessToken",
  "refreshToken",
  "token",
  "secret",
  "webhookSecret",
  "password",
  "passwd",
  "databaseUrl",
  "connectionString",
  "twilioAuthToken",
  "twilioApiKeySecret",
  "dialpadApiToken",
  "dialpadWebhookSecret",
];

/** `key`, `*.key` and `*.*.key`, in pino's path syntax. */
function atAnyDepth(key: string): string[] {
  const k = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
  const child = k.startsWith("[") ? k : `.${k}`;
  return [k, `*${child}`, `*.*${child}`];
}

const PHONE = new Set(PHONE_KEYS);
const TEXT = new Set(TEXT_KEYS);
const REDACT_PATHS = [...[...PHONE_KEYS, ...SECRET_KEYS].flatMap(atAnyDepth), ...TEXT_PATHS];

const DIGIT = /\p{Nd}/u;

/**
 * Masks a phone number for logs, keeping the start of the country code and the last two
 * digits: +14155552671 → +1415•••••71. Any other string with 7 or more digits (a number as
 * typed, "(415) 555-2671") keeps only its last two digits; a shorter one (a short code, an
 * alphanumeric sender id) is not a phone number and stays as it is.
 */
export function maskPhone(value: string): string {
  if (/^\+\d+$/.test(value)) {
    if (value.length <= 6) return "•••";
    return value.slice(0, 5) + "•".repeat(value.length - 7) + value.slice(-2);
  }
  const digits = [...value].filter((c) => DIGIT.test(c)).length;
  if (digits < 7) return value;
  let seen = 0;
  return value.replace(/\p{Nd}/gu, (d) => (++seen > digits - 2 ? d : "•"));
}

// A run of 7 to 15 digits, maybe after + or its URL escape, not part of a longer word or id.
const PHONE_IN_TEXT = /(?<![\p{L}\p{N}_])(?:\+|%2B)?\p{Nd}{7,15}(?![\p{L}\p{N}_])/giu;

/** Masks every phone-number-like run of digits in free text (URLs, error messages). */
export function maskPhonesIn(text: string): string {
  return text.replace(PHONE_IN_TEXT, (m) => {
    const escaped = /^%2B/i.test(m);
    const plus = m.startsWith("+") || escaped;
    const digits = m.slice(m.startsWith("+") ? 1 : escaped ? 3 : 0);
    if (!plus) return maskPhone(digits);
    return (escaped ? m.slice(0, 3) : "+") + maskPhone("+" + digits).slice(1);
  });
}

function maskPhoneValue(value: unknown): unknown {
  if (value === null || value === undefined) return value;
  if (typeof value === "string") return maskPhone(value);
  if (typeof value === "number" || typeof value === "bigint") return maskPhone(String(value));
  if (Array.isArray(value)) return value.map(maskPhoneValue);
  return REDACTED;
}

/** The redaction censor: masks phone fields and phone numbers in text, removes the rest. */
function censor(value: unknown, path: readonly (string | symbol)[]): unknown {
  const key = path[path.length - 1];
  if (typeof key === "string" && PHONE.has(key)) return maskPhoneValue(value);
  if (typeof key === "string" && TEXT.has(key)) {
    return typeof value === "string" ? maskPhonesIn(value) : value;
  }
  return REDACTED;
}

/** Creates the process logger at the given level ("silent" in tests). */
export function createLogger(level: string, opts: LoggerOptions = {}): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    redact: { paths: REDACT_PATHS, censor },
    hooks: {
      // Phone numbers written into a message string (`sent to ${to}`) are masked too.
      logMethod(args, method) {
        const masked = args.map((a) => (typeof a === "string" ? maskPhonesIn(a) : a));
        return method.apply(this, masked as Parameters<typeof method>);
      },
    },
  };
  if (opts.format === "pretty") {
    const out = opts.destination ?? process.stdout;
    const colors = opts.colors ?? (isTerminal(out) && !process.env.NO_COLOR);
    return pino(options, prettyStream(out, { colors }));
  }
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

function isTerminal(out: DestinationStream): boolean {
  return (out as { isTTY?: boolean }).isTTY === true;
}

// ---- Pretty format ---------------------------------------------------------------------------

const LEVELS: Record<number, [label: string, colour: string]> = {
  10: ["TRACE", "90"],
  20: ["DEBUG", "36"],
  30: ["INFO ", "32"],
  40: ["WARN ", "33"],
  50: ["ERROR", "31"],
  60: ["FATAL", "35;1"],
};
const HIDDEN = new Set(["level", "time", "msg", "pid", "hostname"]);

export interface PrettyOptions {
  colors: boolean;
}

/** A destination that turns pino's JSON lines into readable ones and writes them to `out`. */
export function prettyStream(out: DestinationStream, opts: PrettyOptions): DestinationStream {
  return { write: (line: string) => out.write(formatPretty(line, opts)) };
}

/**
 * One JSON log line as `12:00:00.123 INFO  message key=value …`, local time; nested objects
 * as dotted keys, an error's stack on the lines after. A line that is not JSON passes as is.
 */
export function formatPretty(line: string, opts: PrettyOptions): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (o === null || typeof o !== "object") return line;
  const paint = (code: string, s: string) => (opts.colors ? `\u001b[${code}m${s}\u001b[0m` : s);
  const [label, colour] = LEVELS[o.level as number] ?? [String(o.level).padEnd(5), "0"];
  const time = typeof o.time === "number" ? clock(new Date(o.time)) : "";
  const parts = [paint("2", time), paint(colour, label)];
  if (typeof o.msg === "string" && o.msg) parts.push(o.msg);
  let stack = "";
  const fields: string[] = [];
  const add = (key: string, v: unknown, depth: number) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v) && depth < 2) {
      for (const [k, x] of Object.entries(v)) {
        if (key === "err" && k === "stack" && typeof x === "string") stack = x;
        else if (!(key === "err" && k === "type")) add(`${key}.${k}`, x, depth + 1);
      }
      return;
    }
    fields.push(`${paint("2", key + "=")}${value(v)}`);
  };
  for (const [k, v] of Object.entries(o)) if (!HIDDEN.has(k)) add(k, v, 0);
  let text = [...parts, ...fields].join(" ");
  if (stack) text += "\n" + paint("2", stack.replace(/^/gm, "    "));
  return text + "\n";
}

function value(v: unknown): string {
  if (typeof v === "string") return /^[^\s"=\\]+$/u.test(v) ? v : JSON.stringify(v);
  if (v === undefined) return "undefined";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function clock(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
