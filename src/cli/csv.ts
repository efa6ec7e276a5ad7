/**
 * A streaming CSV reader (RFC 4180, comma-separated): quoted fields holding commas, doubled
 * quotes and line breaks; CRLF, LF or CR line ends; a UTF-8 byte order mark. Each record carries
 * the file line it starts on (the first line is 1), so problems can be reported by line.
 *
 * Lenient where spreadsheets are: a quote inside an unquoted field is kept as text. A record
 * whose closing quote is followed by anything but a comma or a line end gets an `error` (its
 * fields are still returned), and so does a quoted field left open at the end of the input.
 */

export interface CsvRecord {
  /** The line the record starts on (1-based; a quoted line break moves later records down). */
  line: number;
  fields: string[];
  /** Set when the record is malformed; the fields are then a best effort. */
  error?: string;
  /** A quoted field was still open at the end of the input: it holds the rest of the file. */
  unclosed?: true;
}

const COMMA = 44;
const QUOTE = 34;
const CR = 13;
const LF = 10;
const BOM = 0xfeff;

type State =
  | "start" // at the start of a field
  | "unquoted" // in an unquoted field
  | "quoted" // in a quoted field
  | "quote"; // just after a quote inside a quoted field: a doubled quote or the closing one

/** Feed text with push() (chunks may split anywhere), then call end(). */
export class CsvParser {
  private fields: string[] = [];
  private field = "";
  private state: State = "start";
  /** The line of the next character. */
  private line = 1;
  private recordLine = 1;
  private error: string | undefined;
  private quoteLine = 1;
  /** The last chunk ended with CR: a LF starting the next one belongs to it. */
  private skipLF = false;
  private first = true;
  /** The last character of the previous chunk (for a CRLF split across two chunks). */
  private lastChar = -1;
  private out: CsvRecord[] = [];

  /** Parses a chunk and returns the records it completed. */
  push(chunk: string): CsvRecord[] {
    const n = chunk.length;
    let i = 0;
    if (this.first && n > 0) {
      this.first = false;
      if (chunk.charCodeAt(0) === BOM) i = 1;
    }
    if (this.skipLF && i < n) {
      this.skipLF = false;
      if (chunk.charCodeAt(i) === LF) i++;
    }
    let from = i; // start of the current field's text not yet copied into `this.field`
    for (; i < n; i++) {
      const c = chunk.charCodeAt(i);
      switch (this.state) {
        case "start":
          if (c === QUOTE) {
            this.state = "quoted";
            this.quoteLine = this.line;
            from = i + 1;
          } else if (c === COMMA) {
            this.fields.push("");
          } else if (c === CR || c === LF) {
            this.fields.push("");
            i = this.endLine(chunk, i);
          } else {
            this.state = "unquoted";
            from = i;
          }
          break;
        case "unquoted":
          if (c === COMMA) {
            this.fields.push(this.field + chunk.slice(from, i));
            this.field = "";
            this.state = "start";
          } else if (c === CR || c === LF) {
            this.fields.push(this.field + chunk.slice(from, i));
            this.field = "";
            this.state = "start";
            i = this.endLine(chunk, i);
          }
          break;
        case "quoted":
          if (c === QUOTE) {
            this.field += chunk.slice(from, i);
            this.state = "quote";
          } else if (c === CR) {
            this.line++;
          } else if (c === LF) {
            // CRLF is one line break.
            const prev = i > 0 ? chunk.charCodeAt(i - 1) : this.lastChar;
            if (prev !== CR) this.line++;
          }
          break;
        case "quote":
          if (c === QUOTE) {
            // A doubled quote: one quote character, and the field goes on.
            this.field += '"';
            this.state = "quoted";
            from = i + 1;
          } else if (c === COMMA) {
            this.fields.push(this.field);
            this.field = "";
            this.state = "start";
          } else if (c === CR || c === LF) {
            this.fields.push(this.field);
            this.field = "";
            this.state = "start";
            i = this.endLine(chunk, i);
          } else {
            this.error ??= `unexpected text after the closing quote of field ${this.fields.length + 1}`;
            this.state = "unquoted";
            from = i;
          }
          break;
      }
    }
    if (this.state === "unquoted" || this.state === "quoted") this.field += chunk.slice(from);
    if (n > 0) this.lastChar = chunk.charCodeAt(n - 1);
    const done = this.out;
    this.out = [];
    return done;
  }

  /** Ends the input and returns the last record, if any. */
  end(): CsvRecord[] {
    const unclosed = this.state === "quoted";
    if (unclosed) this.error ??= `the quoted field opened on line ${this.quoteLine} is not closed`;
    if (this.state !== "start" || this.fields.length > 0) {
      this.fields.push(this.field);
      this.field = "";
      this.state = "start";
      this.endRecord();
      const last = this.out[this.out.length - 1];
      if (unclosed && last) last.unclosed = true;
    }
    const done = this.out;
    this.out = [];
    return done;
  }

  /** A line break outside quotes at chunk[i]: ends the record; returns the index to go on from. */
  private endLine(chunk: string, i: number): number {
    this.line++;
    this.endRecord();
    if (chunk.charCodeAt(i) === CR) {
      if (i + 1 < chunk.length) {
        if (chunk.charCodeAt(i + 1) === LF) return i + 1;
      } else {
        this.skipLF = true;
      }
    }
    return i;
  }

  private endRecord(): void {
    // A blank line is no record.
    const blank = this.fields.length === 1 && this.fields[0] === "" && this.error === undefined;
    if (!blank) {
      const r: CsvRecord = { line: this.recordLine, fields: this.fields };
      if (this.error !== undefined) r.error = this.error;
      this.out.push(r);
    }
    this.fields = [];
    this.error = undefined;
    this.recordLine = this.line;
  }
}

/** Parses a whole text. */
export function parseCsv(text: string): CsvRecord[] {
  const p = new CsvParser();
  return [...p.push(text), ...p.end()];
}

/** Parses a stream of text chunks (e.g. a file read with an encoding), record by record. */
export async function* readCsv(chunks: AsyncIterable<string>): AsyncGenerator<CsvRecord> {
  const p = new CsvParser();
  for await (const chunk of chunks) yield* p.push(chunk);
  yield* p.end();
}

/** Formats one field for a CSV file: quoted when it holds a comma, quote or line break. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) || value !== value.trim()
    ? `"${value.replaceAll('"', '""')}"`
    : value;
}
