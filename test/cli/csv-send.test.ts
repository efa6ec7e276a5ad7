// `smsq send --csv` as a user runs it: the built CLI against `smsq serve` on the embedded store
// (`npm run build` first). 10,000 rows with 50 bad ones enqueue 9,950 and name the 50 lines; a
// second run enqueues nothing new. Also: re-run safety with key prefixes and key columns,
// unusable files, --dry-run, and `smsq send --to` as before.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csvField } from "../../src/cli/csv.js";
import { SmsqClient, type Message } from "../../src/client/index.js";
import { CLI, spawnSmsq, type SmsqProcess } from "../helpers/proc.js";

const API_KEY = "csv-test-key-0123456789";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI to the end, with stdout and stderr apart (stderr is a pipe, not a TTY). */
function smsq(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A valid US number, distinct per i (NANP 2xx exchange). */
const phone = (i: number) => `+1415${String(2000000 + i).padStart(7, "0")}`;

interface Generated {
  text: string;
  good: Map<string, { body: string; metadata: unknown; sendAt: string | null }>;
  badLines: Map<number, string>;
}

/**
 * `rows` data rows; every `rows / bad`-th one is bad in one of ten ways. Some good bodies hold
 * commas, quotes and line breaks (so file lines and row numbers part ways), some rows carry
 * metadata or a sendAt. CRLF line ends and a BOM, as a spreadsheet writes them.
 */
function generate(rows: number, bad: number): Generated {
  const good: Generated["good"] = new Map();
  const badLines = new Map<number, string>();
  const out: string[] = ["to,body,sendAt,metadata,priority"];
  let line = 2;
  const future = new Date(Date.now() + 24 * 3600_000).toISOString();
  const every = Math.floor(rows / bad);
  for (let i = 0; i < rows; i++) {
    const to = phone(i);
    let body = `Reminder ${i}: your appointment is tomorrow`;
    if (i % 7 === 0) body = `Hi "${i}", see you at 9:00, room 4`;
    if (i % 11 === 0) body = `Line one of ${i}\r\nline two\nline three`;
    const sendAt = i % 5 === 0 ? future : "";
    const metadata = i % 3 === 0 ? JSON.stringify({ row: i, tags: ["a", "b,c"] }) : "";
    const priority = ["", "high", "low", "normal"][i % 4] as string;
    let cells = [to, body, sendAt, metadata, priority];
    if (i % every === every - 1 && badLines.size < bad) {
      const kinds: [string, (c: string[]) => string[]][] = [
        ["invalid_phone", (c) => ["12345", ...c.slice(1)]],
        ["invalid_body", (c) => [c[0]!, "   ", ...c.slice(2)]],
        ["invalid_date", (c) => [c[0]!, c[1]!, "tomorrow", ...c.slice(3)]],
        ["invalid_metadata", (c) => [c[0]!, c[1]!, c[2]!, "{not json", c[4]!]],
        ["invalid_metadata", (c) => [c[0]!, c[1]!, c[2]!, "[1,2]", c[4]!]],
        ["invalid_priority", (c) => [...c.slice(0, 4), "urgent"]],
        ["invalid_csv", (c) => c.slice(0, 3)],
        ["invalid_date", (c) => [c[0]!, c[1]!, "2026-02-30T09:00:00Z", ...c.slice(3)]],
        ["invalid_phone", (c) => ["", ...c.slice(1)]],
        // Only the server knows its SMSQ_MAX_SEGMENTS (10): refused when sent.
        ["body_too_long", (c) => [c[0]!, "x".repeat(1600), ...c.slice(2)]],
      ];
      const [code, make] = kinds[badLines.size % kinds.length]!;
      cells = make(cells);
      badLines.set(line, code);
    } else {
      good.set(to, {
        body,
        metadata: metadata ? JSON.parse(metadata) : null,
        sendAt: sendAt || null,
      });
    }
    const text = cells.map(csvField).join(",");
    out.push(text);
    line += 1 + (text.match(/\r\n|\n|\r/g)?.length ?? 0);
  }
  return { text: "\uFEFF" + out.join("\r\n") + "\r\n", good, badLines };
}

describe("smsq send --csv", () => {
  const dir = mkdtempSync(join(tmpdir(), "smsq-csv-"));
  let server: SmsqProcess;
  let env: Record<string, string>;
  let client: SmsqClient;

  const all = async (): Promise<Message[]> => {
    const out: Message[] = [];
    for await (const m of client.listAll({ limit: 500 })) out.push(m);
    return out;
  };
  /** How many messages are stored for `to`. */
  const sentTo = async (to: string) => (await client.list({ to, limit: 500 })).data.length;
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  beforeAll(async () => {
    server = spawnSmsq(["serve", "--no-worker"], {
      SMSQ_DATA_DIR: join(dir, "data"),
      SMSQ_PORT: "0",
      SMSQ_HOST: "127.0.0.1",
      SMSQ_API_KEYS: API_KEY,
    });
    const m = await server.waitForLine(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const url = m[1] as string;
    env = { SMSQ_URL: url, SMSQ_API_KEY: API_KEY };
    client = new SmsqClient({ baseUrl: url, apiKey: API_KEY });
  });
  afterAll(async () => {
    await server?.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("enqueues the 9,950 good rows of 10,000, names the 50 bad lines, and a second run adds nothing", async () => {
    const g = generate(10_000, 50);
    expect(g.badLines.size).toBe(50);
    const path = file("reminders.csv", g.text);

    const first = await smsq(["send", "--csv", path, "--json"], env);
    expect(first.code, first.stderr).toBe(1);
    const summary = JSON.parse(first.stdout) as {
      rows: number;
      enqueued: number;
      alreadyThere: number;
      duplicates: unknown[];
      bad: { line: number; code: string; field?: string; message: string }[];
      error: string | null;
    };
    expect(summary).toMatchObject({
      rows: 10_000,
      enqueued: 9950,
      alreadyThere: 0,
      duplicates: [],
      error: null,
    });
    expect(summary.bad.map((b) => [b.line, b.code])).toEqual([...g.badLines]);
    for (const b of summary.bad) {
      expect(first.stderr).toContain(`reminders.csv:${b.line}: ${b.code}: `);
    }
    // Progress counts the rows handed to the server (the 5 it refuses included).
    expect(first.stderr).toMatch(/^smsq: sent 9955 of 9955 rows$/m);

    // The store holds exactly the good rows, as written.
    const stored = await all();
    expect(stored).toHaveLength(9950);
    expect(new Set(stored.map((m) => m.to))).toEqual(new Set(g.good.keys()));
    for (const m of stored) {
      const want = g.good.get(m.to)!;
      expect(m.body).toBe(want.body);
      expect(m.metadata).toEqual(want.metadata);
      expect(m.status).toBe(want.sendAt ? "scheduled" : "queued");
    }

    const second = await smsq(["send", "--csv", path], env);
    expect(second.code).toBe(1);
    expect(second.stdout).toBe(
      "reminders.csv: 10000 rows, 0 enqueued, 9950 already there, 50 bad\n",
    );
    for (const line of g.badLines.keys()) {
      expect(second.stderr).toContain(`reminders.csv:${line}: `);
    }
    expect((await all()).length).toBe(9950);
  }, 180_000);

  it("sends identical rows once, and again under another --key-prefix; an idempotencyKey column wins", async () => {
    const path = file(
      "dups.csv",
      "To,Body,idempotency_key\n+14155550100,same,\n+14155550100,same,\n+14155550101,keyed,k-1\n",
    );
    const first = await smsq(["send", "--csv", path], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(
      "dups.csv: 3 rows, 2 enqueued, 0 already there, 1 duplicate (sent once), 0 bad\n",
    );
    expect(first.stderr).toContain("dups.csv:3: the same message as line 2; sent once");
    expect([await sentTo("+14155550100"), await sentTo("+14155550101")]).toEqual([1, 1]);

    const june = await smsq(["send", "--csv", path, "--key-prefix", "june:"], env);
    expect(june.stdout).toMatch(/2 enqueued, 0 already there/);
    const again = await smsq(["send", "--csv", path, "--key-prefix", "june:"], env);
    expect(again.stdout).toMatch(/0 enqueued, 2 already there/);
    expect([await sentTo("+14155550100"), await sentTo("+14155550101")]).toEqual([2, 2]);

    // The same key for another message: the server refuses the row, by line.
    const changed = file("changed.csv", "to,body,idempotencyKey\n+14155550101,changed,k-1\n");
    const conflict = await smsq(["send", "--csv", changed], env);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(
      /^changed\.csv:2: idempotency_conflict: .*refused by the server/m,
    );
    expect(conflict.stdout).toBe("changed.csv: 1 row, 0 enqueued, 0 already there, 1 bad\n");
  }, 60_000);

  it("refuses an unusable file whole (exit 2), and --dry-run sends nothing", async () => {
    const cases: [string, RegExp][] = [
      ["to,message\n+14155550120,x\n", /column 2 "message" is not one of to, body/],
      ["body\nx\n", /the header has no "to" column/],
      ["to,body,to\n", /column "to" appears twice/],
      [
        'to,body\n+14155550121,"open\n+14155550122,x\n',
        /line 2: the quoted field opened on line 2 is not closed/,
      ],
      ["", /it is empty/],
    ];
    const runs = await Promise.all(
      cases.map(([text], i) => smsq(["send", "--csv", file(`bad${i}.csv`, text)], env)),
    );
    runs.forEach((r, i) => {
      const [text, re] = cases[i]!;
      expect(r.code, text).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).toMatch(/nothing was sent/);
    });
    const missing = await smsq(["send", "--csv", join(dir, "nope.csv")], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/nope\.csv: cannot read it \(ENOENT\)/);

    const dry = await smsq(
      ["send", "--csv", file("dry.csv", "to,body\n+14155550177,x\nbad,y\n"), "--dry-run"],
      env,
    );
    expect(dry.code).toBe(1);
    expect(dry.stdout).toBe("dry.csv: 2 rows, 1 valid (dry run: nothing sent), 1 bad\n");
    expect(dry.stderr).toMatch(/^dry\.csv:3: invalid_phone: /m);
    for (const n of [120, 121, 122, 177]) expect(await sentTo(`+14155550${n}`)).toBe(0);

    const both = await smsq(["send", "--csv", file("x.csv", "to,body\n"), "--to", "+1"], env);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/--to cannot be used with --csv/);
  });

  it("leaves `smsq send --to --body` as it was", async () => {
    const r = await smsq(["send", "--to", "+1 415 555 2671", "--body", "hello"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^msg_\w+ {2}queued\n {2}to \+14155552671,/);
    const noBody = await smsq(["send", "--to", "+14155552671"], env);
    expect(noBody.code).toBe(1);
    expect(noBody.stderr).toBe("error: required option '--body <text>' not specified\n");
    const noKey = await smsq(["send", "--to", "+14155552671", "--body", "x"], {
      SMSQ_URL: env.SMSQ_URL as string,
    });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/^smsq: 401 unauthorized: /);
  });
});
