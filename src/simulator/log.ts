/**
 * The simulator's record of every create request: in memory (bounded, oldest dropped first) and
 * optionally appended to a JSONL file. File writes are buffered and flushed on a timer so the
 * request path never waits for the disk.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import type { SimLogEntry } from "./types.js";

const FLUSH_MS = 100;
const FLUSH_BYTES = 1 << 20;

/** Buffered JSONL appender. */
class LogFile {
  private stream: WriteStream;
  private buffer: string[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private failed: Error | null = null;

  constructor(path: string) {
    this.stream = createWriteStream(path, { flags: "a" });
    // A broken log file must not take the simulator down; report it once on close.
    this.stream.on("error", (e) => {
      this.failed = e;
    });
  }

  append(line: string): void {
    this.buffer.push(line);
    this.bytes += line.length;
    if (this.bytes >= FLUSH_BYTES) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), FLUSH_MS);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.buffer.length === 0 || this.failed) return;
    this.stream.write(this.buffer.join(""));
    this.buffer = [];
    this.bytes = 0;
  }

  async close(): Promise<void> {
    this.flush();
    await new Promise<void>((resolve) => this.stream.end(resolve));
    if (this.failed) console.error(`smsq simulator: log file: ${this.failed.message}`);
  }
}

/** In-memory log with a monotonic `seq` (kept across reset() so `?since=` pollers never miss). */
export class SimLog {
  private entries: SimLogEntry[] = [];
  private seq = 0;
  private readonly file: LogFile | null;

  constructor(
    private readonly max: number,
    path: string | null,
    private readonly now: () => number,
  ) {
    this.file = path ? new LogFile(path) : null;
  }

  /** Records one entry, stamping `seq` and `at`. */
  add(e: Omit<SimLogEntry, "seq" | "at">): SimLogEntry {
    const entry: SimLogEntry = { seq: ++this.seq, at: this.now(), ...e };
    this.entries.push(entry);
    // Drop in chunks so a full log costs an occasional splice, not one per request.
    if (this.entries.length > this.max + Math.ceil(this.max / 10)) {
      this.entries.splice(0, this.entries.length - this.max);
    }
    this.file?.append(JSON.stringify(entry) + "\n");
    return entry;
  }

  /** The entries kept (at most about `max`), oldest first. */
  all(): SimLogEntry[] {
    return this.entries.length > this.max
      ? this.entries.slice(this.entries.length - this.max)
      : this.entries.slice();
  }

  /** Entries with seq > `since`. */
  since(since: number): SimLogEntry[] {
    // seq increases along the array: binary search for the first entry after `since`.
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.entries[mid] as SimLogEntry).seq <= since) lo = mid + 1;
      else hi = mid;
    }
    return this.entries.slice(lo);
  }

  /** Forgets the in-memory entries (the file keeps them). */
  clear(): void {
    this.entries = [];
  }

  /** Flushes and closes the file. */
  async close(): Promise<void> {
    await this.file?.close();
  }
}
