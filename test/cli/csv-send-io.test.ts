// sendCsv in process, against a real server: the progress bar on a terminal, and a batch the
// server finds too large split until it fits.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csvSettings, sendCsv, type CsvSendIo } from "../../src/cli/csv-send.js";
import { countRows, openTestStore, type TestStore } from "../helpers/db.js";
import { KEY_A, phone, startServer, type Api } from "../api/http.js";

/** A stream that keeps what is written, looking like a terminal or not. */
function sink(tty: boolean): Writable & { text: string; isTTY?: boolean; columns?: number } {
  const w = new Writable({
    write(chunk: Buffer, _enc, done) {
      w.text += chunk.toString();
      done();
    },
  }) as Writable & { text: string; isTTY?: boolean; columns?: number };
  w.text = "";
  if (tty) {
    w.isTTY = true;
    w.columns = 80;
  }
  return w;
}

describe("sendCsv", () => {
  const dir = mkdtempSync(join(tmpdir(), "smsq-csv-io-"));
  let store: TestStore;
  let api: Api;

  beforeAll(async () => {
    store = await openTestStore("pglite");
    // Small enough that 100 rows do not fit in one request.
    api = await startServer(store.db, { maxRequestBytes: 4096 });
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("draws a progress bar on a terminal and splits a batch refused as too large", async () => {
    const file = join(dir, "r.csv");
    const rows = Array.from({ length: 100 }, (_, i) => `${phone(i)},Reminder number ${i}`);
    writeFileSync(file, ["to,body", ...rows].join("\n"));
    const io: CsvSendIo = { stdout: sink(false), stderr: sink(true) };
    const code = await sendCsv(
      {
        file,
        target: { url: api.base, apiKey: KEY_A },
        keyPrefix: "",
        batchSize: 1000,
        dryRun: false,
        json: false,
        settings: csvSettings({}),
      },
      io,
    );
    const err = (io.stderr as ReturnType<typeof sink>).text;
    expect(code, err).toBe(0);
    expect((io.stdout as ReturnType<typeof sink>).text).toBe(
      "r.csv: 100 rows, 100 enqueued, 0 already there, 0 bad\n",
    );
    expect(err).toMatch(/^\rsending \[\.+\]\s+0% 0\/100/);
    expect(err).toMatch(/\rsending \[#{40}\] 100% 100\/100\n$/);
    expect((await countRows(store.db)).messages).toBe(100);
  });

  it("takes the server's settings from its variables when they are set", () => {
    expect(csvSettings({})).toEqual({ defaultRegion: "US", maxSegments: 100 });
    expect(csvSettings({ SMSQ_DEFAULT_REGION: "gb", SMSQ_MAX_SEGMENTS: "4" })).toEqual({
      defaultRegion: "GB",
      maxSegments: 4,
    });
    expect(csvSettings({ SMSQ_DEFAULT_REGION: "ZZ", SMSQ_MAX_SEGMENTS: "x" })).toEqual({
      defaultRegion: "US",
      maxSegments: 100,
    });
  });
});
