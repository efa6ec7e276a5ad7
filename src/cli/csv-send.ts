/**
 * `smsq send --csv <file>`: bulk sends from a CSV file through a running smsq.
 *
 * Every row is read and checked first (the server's own schema and validation code), bad rows
 * are reported by file line, and the rest go out through POST /v1/messages/batch. Each row
 * carries an idempotency key (its `idempotencyKey` column, or a hash of the message it
 * describes), so running the same file again stores nothing twice and says what was already there.
 */
import { createReadStream } from "node:fs";
import { basename } from "node:path";
import { createHash } from "node:crypto";
import { canonicalJson } from "../api/canonical.js";
import { check } from "../api/validation.js";
import { SmsqApiError, SmsqClient, SmsqNetworkError, isBatchError } from "../client/index.js";
import { SmsqError, isSmsqError } from "../errors.js";
import { isKnownRegion } from "../messages/phone.js";
import { BatchItemInput, MAX_BATCH } from "../messages/schemas.js";
import { validateMessage, type ValidationSettings } from "../messages/validate.js";
import { VERSION } from "../version.js";
import { readCsv, type CsvRecord } from "./csv.js";
import type { Target } from "./http.js";

/** The columns a file may have; header names match ignoring case, spaces, `_` and `-`. */
const COLUMNS = {
  to: "to",
  body: "body",
  from: "from",
  sendat: "sendAt",
  validuntil: "validUntil",
  priority: "priority",
  lane: "priority",
  metadata: "metadata",
  idempotencykey: "idempotencyKey",
} as const;
type Column = (typeof COLUMNS)[keyof typeof COLUMNS];

/** Request bodies stay under this many bytes (the server's default limit is 5 MiB). */
const MAX_BATCH_BYTES = 1024 * 1024;

export interface CsvSendOptions {
  file: string;
  target: Target;
  /** Prepended to every row's idempotency key. */
  keyPrefix: string;
  batchSize: number;
  dryRun: boolean;
  json: boolean;
  /** For the checks made here; the server's own settings decide in the end. */
  settings: ValidationSettings;
}

export interface CsvSendIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  now?: () => Date;
}

/** A row the file or the server refused. */
export interface BadRow {
  line: number;
  code: string;
  field?: string;
  message: string;
}

export interface CsvSendSummary {
  file: string;
  /** Data rows (blank lines not counted). */
  rows: number;
  /** Rows stored by this run. */
  enqueued: number;
  /** Rows whose message was already stored (by an earlier run of the same file). */
  alreadyThere: number;
  /** Rows that repeat an earlier row of the file: sent once. */
  duplicates: { line: number; sameAs: number }[];
  bad: BadRow[];
  dryRun: boolean;
}

/** Thrown for a file that cannot be used at all; nothing was sent. */
export class CsvFileError extends Error {}

interface Row {
  line: number;
  item: BatchItemInput;
  bytes: number;
}

/** `smsq send --csv`: returns the exit code (0 all sent, 1 some rows bad or a failure, 2 unusable file). */
export async function sendCsv(o: CsvSendOptions, io: CsvSendIo): Promise<number> {
  const name = basename(o.file);
  const say = (s: string) => io.stderr.write(`${s}\n`);
  let rows: Row[];
  let summary: CsvSendSummary;
  try {
    ({ rows, summary } = await readRows(o, io.now ?? (() => new Date())));
  } catch (e) {
    if (e instanceof CsvFileError) {
      say(`smsq: ${o.file}: ${e.message}; nothing was sent`);
      return 2;
    }
    throw e;
  }
  for (const b of summary.bad) say(`${name}:${b.line}: ${b.code}: ${b.message}`);
  for (const d of summary.duplicates) {
    say(`${name}:${d.line}: the same message as line ${d.sameAs}; sent once`);
  }

  let failure: string | null = null;
  if (!o.dryRun && rows.length > 0) {
    const client = new SmsqClient({
      baseUrl: o.target.url,
      apiKey: o.target.apiKey,
      timeout: 120_000,
      headers: { "user-agent": `smsq-cli/${VERSION}` },
      // Backpressure (429) and a store outage (503) store nothing: wait them out.
      retry: { attempts: 20, maxDelayMs: 60_000 },
    });
    const progress = new Progress(io.stderr, rows.length);
    let done = 0;
    progress.update(0);
    try {
      for (const batch of batches(rows, o.batchSize)) {
        await sendBatch(client, batch, summary, name, say);
        done += batch.length;
        progress.update(done);
      }
    } catch (e) {
      failure = (e as Error).message;
    } finally {
      progress.done();
    }
  }

  summary.bad.sort((a, b) => a.line - b.line);
  if (o.json) {
    io.stdout.write(JSON.stringify({ ...summary, error: failure }, null, 2) + "\n");
  } else {
    const parts = [
      `${summary.rows} row${summary.rows === 1 ? "" : "s"}`,
      o.dryRun
        ? `${rows.length} valid (dry run: nothing sent)`
        : `${summary.enqueued} enqueued, ${summary.alreadyThere} already there`,
    ];
    const dups = summary.duplicates.length;
    if (dups > 0) parts.push(`${dups} duplicate${dups === 1 ? "" : "s"} (sent once)`);
    parts.push(`${summary.bad.length} bad`);
    io.stdout.write(`${name}: ${parts.join(", ")}\n`);
  }
  if (failure !== null) {
    say(`smsq: ${failure}`);
    say(
      "smsq: the rows sent so far are stored; running the same command again sends the rest, none twice",
    );
    return 1;
  }
  if (summary.bad.length > 0) {
    if (!o.json) {
      say(
        `smsq: ${summary.bad.length} bad row(s), listed above by line; the other rows were ${o.dryRun ? "checked" : "sent"}`,
      );
    }
    return 1;
  }
  return 0;
}

/** Reads and checks every row; throws CsvFileError when the file cannot be used. */
async function readRows(
  o: CsvSendOptions,
  now: () => Date,
): Promise<{ rows: Row[]; summary: CsvSendSummary }> {
  const summary: CsvSendSummary = {
    file: o.file,
    rows: 0,
    enqueued: 0,
    alreadyThere: 0,
    duplicates: [],
    bad: [],
    dryRun: o.dryRun,
  };
  const rows: Row[] = [];
  const keys = new Map<string, { line: number; hash: string }>();
  const t = now();
  let header: Column[] | null = null;
  const stream = createReadStream(o.file, { encoding: "utf8", highWaterMark: 256 * 1024 });
  try {
    for await (const rec of readCsv(stream as AsyncIterable<string>)) {
      // Everything after an unclosed quote is in that one field: the file cannot be trusted.
      if (rec.unclosed) {
        throw new CsvFileError(`line ${rec.line}: ${rec.error}`);
      }
      if (header === null) {
        header = parseHeader(rec);
        continue;
      }
      summary.rows += 1;
      const bad = (code: string, message: string, field?: string) =>
        summary.bad.push(
          field === undefined
            ? { line: rec.line, code, message }
            : { line: rec.line, code, field, message },
        );
      if (rec.error !== undefined) {
        bad("invalid_csv", rec.error);
        continue;
      }
      if (rec.fields.length !== header.length) {
        bad(
          "invalid_csv",
          `${rec.fields.length} field${rec.fields.length === 1 ? "" : "s"}; the header has ${header.length}`,
        );
        continue;
      }
      let item: BatchItemInput;
      try {
        item = rowItem(header, rec.fields);
        const checked = check(BatchItemInput, item);
        validateMessage(checked, o.settings, t);
      } catch (e) {
        if (!isSmsqError(e)) throw e;
        bad(e.code, e.message, e.field);
        continue;
      }
      const { idempotencyKey: given, ...input } = item;
      const hash = createHash("sha256").update(canonicalJson(input)).digest("hex");
      const key = o.keyPrefix + (given ?? `csv-${hash}`);
      if (key.length > 255) {
        bad(
          "invalid_request",
          "the idempotency key (with --key-prefix) is over 255 characters",
          "idempotencyKey",
        );
        continue;
      }
      const seen = keys.get(key);
      if (seen) {
        if (seen.hash === hash) summary.duplicates.push({ line: rec.line, sameAs: seen.line });
        else {
          bad(
            "idempotency_conflict",
            `idempotencyKey is used on line ${seen.line} for a different message`,
            "idempotencyKey",
          );
        }
        continue;
      }
      keys.set(key, { line: rec.line, hash });
      const full: BatchItemInput = { ...input, idempotencyKey: key };
      rows.push({ line: rec.line, item: full, bytes: Buffer.byteLength(JSON.stringify(full)) + 1 });
    }
  } catch (e) {
    if (e instanceof CsvFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EACCES" || code === "EISDIR") {
      throw new CsvFileError(`cannot read it (${code})`);
    }
    throw e;
  } finally {
    stream.destroy();
  }
  if (header === null) throw new CsvFileError("it is empty: the first line must name the columns");
  return { rows, summary };
}

/** Maps the header's names to columns; refuses unknown, repeated and missing ones. */
function parseHeader(rec: CsvRecord): Column[] {
  if (rec.error !== undefined) throw new CsvFileError(`line ${rec.line}: ${rec.error}`);
  const cols: Column[] = [];
  rec.fields.forEach((raw, i) => {
    const norm = raw.toLowerCase().replace(/[\s_-]+/g, "");
    const col = (COLUMNS as Record<string, Column>)[norm];
    if (!col) {
      throw new CsvFileError(
        `line 1: column ${i + 1} "${raw}" is not one of to, body, from, sendAt, validUntil, priority, metadata, idempotencyKey`,
      );
    }
    if (cols.includes(col)) throw new CsvFileError(`line 1: column "${col}" appears twice`);
    cols.push(col);
  });
  for (const need of ["to", "body"] as const) {
    if (!cols.includes(need)) throw new CsvFileError(`line 1: the header has no "${need}" column`);
  }
  return cols;
}

/** The API item for one row: empty optional cells are left out; metadata is parsed as JSON. */
function rowItem(header: Column[], fields: string[]): BatchItemInput {
  const item: Record<string, unknown> = {};
  header.forEach((col, i) => {
    const raw = fields[i] ?? "";
    if (col === "body") {
      item.body = raw;
      return;
    }
    const v = raw.trim();
    if (v === "") {
      if (col === "to") throw new SmsqError("invalid_phone", "to is empty", "to");
      return;
    }
    switch (col) {
      case "priority":
        item.priority = v.toLowerCase();
        break;
      case "metadata": {
        let parsed: unknown;
        try {
          parsed = JSON.parse(v);
        } catch {
          throw new SmsqError("invalid_metadata", "metadata is not valid JSON", "metadata");
        }
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
          throw new SmsqError("invalid_metadata", "metadata must be a JSON object", "metadata");
        }
        item.metadata = parsed;
        break;
      }
      default:
        item[col] = v;
    }
  });
  return item as BatchItemInput;
}

/** Consecutive runs of rows within the batch size and byte budget. */
function* batches(rows: Row[], size: number): Generator<Row[]> {
  let cur: Row[] = [];
  let bytes = 0;
  for (const r of rows) {
    if (cur.length > 0 && (cur.length >= size || bytes + r.bytes > MAX_BATCH_BYTES)) {
      yield cur;
      cur = [];
      bytes = 0;
    }
    cur.push(r);
    bytes += r.bytes;
  }
  if (cur.length > 0) yield cur;
}

/**
 * Sends one batch and records each row's outcome. A batch the server finds too large is split
 * in two; one that got no answer is sent again (every row has its key, so nothing is stored twice).
 */
async function sendBatch(
  client: SmsqClient,
  batch: Row[],
  summary: CsvSendSummary,
  name: string,
  say: (s: string) => void,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await client.batch(batch.map((r) => r.item));
      summary.enqueued += res.created;
      summary.alreadyThere += res.replayed;
      res.data.forEach((entry, i) => {
        if (!isBatchError(entry)) return;
        const line = (batch[i] as Row).line;
        const field = entry.error.field?.replace(/^messages\[\d+\]\./, "");
        const b: BadRow = { line, code: entry.error.code, message: entry.error.message };
        if (field !== undefined) b.field = field;
        summary.bad.push(b);
        say(`${name}:${line}: ${b.code}: ${b.message} (refused by the server)`);
      });
      return;
    } catch (e) {
      if (e instanceof SmsqApiError && e.status === 413 && batch.length > 1) {
        const half = Math.ceil(batch.length / 2);
        await sendBatch(client, batch.slice(0, half), summary, name, say);
        await sendBatch(client, batch.slice(half), summary, name, say);
        return;
      }
      if (e instanceof SmsqNetworkError && attempt < 4) {
        say(`smsq: ${e.message}; sending the batch again`);
        await new Promise((r) => setTimeout(r, 1000 * 2 ** (attempt - 1)));
        continue;
      }
      if (e instanceof SmsqApiError) {
        throw new Error(
          `${e.status} ${e.code}: ${e.message}${e.field ? ` (field ${e.field})` : ""}`,
        );
      }
      throw e;
    }
  }
}

/** A progress bar on a terminal; a plain line every few seconds otherwise. */
class Progress {
  private last = 0;
  private shown = -1;
  private readonly tty: boolean;

  constructor(
    private readonly out: CsvSendIo["stderr"],
    private readonly total: number,
  ) {
    this.tty = out.isTTY === true;
  }

  update(done: number): void {
    const now = Date.now();
    if (this.tty) {
      const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - 40));
      const filled = Math.round((width * done) / this.total);
      const pct = Math.floor((100 * done) / this.total);
      this.out.write(
        `\rsending [${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(pct).padStart(3)}% ${done}/${this.total}`,
      );
    } else if (done > 0 && (now - this.last >= 2000 || done === this.total)) {
      this.out.write(`smsq: sent ${done} of ${this.total} rows\n`);
    } else {
      return;
    }
    this.last = now;
    this.shown = done;
  }

  done(): void {
    if (this.tty && this.shown >= 0) this.out.write("\n");
  }
}

/** Options of `smsq send` that a CSV file gives per row instead. */
const ROW_OPTIONS: Record<string, string> = {
  to: "--to",
  body: "--body",
  from: "--from",
  sendAt: "--send-at",
  validUntil: "--valid-until",
  priority: "--priority",
  idempotencyKey: "--idempotency-key",
};

/** Settings for the checks made before sending: the server's variables when they are set here. */
export function csvSettings(env = process.env): ValidationSettings {
  const region = env.SMSQ_DEFAULT_REGION?.trim().toUpperCase();
  const segments = Number(env.SMSQ_MAX_SEGMENTS);
  return {
    defaultRegion: region && isKnownRegion(region) ? region : "US",
    // Unknown here: do not refuse what the server may accept (it has the last word).
    maxSegments: Number.isInteger(segments) && segments >= 1 ? segments : 100,
  };
}

/** Runs `smsq send --csv` for the send command's options; sets the exit code. */
export async function csvSendCommand(
  o: Record<string, string | boolean | undefined>,
  fail: (message: string) => never,
  target: Target,
): Promise<void> {
  for (const [key, flag] of Object.entries(ROW_OPTIONS)) {
    if (o[key] !== undefined) {
      fail(`${flag} cannot be used with --csv: the file has a column for it`);
    }
  }
  const size = o.batchSize === undefined ? MAX_BATCH : Number(o.batchSize);
  if (!Number.isInteger(size) || size < 1 || size > MAX_BATCH) {
    fail(`--batch-size must be an integer from 1 to ${MAX_BATCH}`);
  }
  process.exitCode = await sendCsv(
    {
      file: String(o.csv),
      target,
      keyPrefix: typeof o.keyPrefix === "string" ? o.keyPrefix : "",
      batchSize: size,
      dryRun: o.dryRun === true,
      json: o.json === true,
      settings: csvSettings(),
    },
    { stdout: process.stdout, stderr: process.stderr },
  );
}
