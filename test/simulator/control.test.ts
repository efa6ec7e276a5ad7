// Control endpoints, inbound messages and opt-outs, the JSONL log file and the CLI's options.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import twilio from "twilio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  SimulateUsageError,
  simulateCommand,
  simulatorOptions,
  startupLines,
  type SimulateCliOptions,
} from "../../src/cli/simulate.js";
import { startSimulator, type SimLogEntry, type Simulator } from "../../src/simulator/index.js";
import { SID, TOKEN, startReceiver, twilioCreate, type Receiver } from "./helpers.js";

const USER = "+14155552671";
const OURS = "+14155550000";
const send = { To: USER, From: OURS, Body: "hello" };

let sim: Simulator;
let rx: Receiver;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "smsq-sim-"));
  rx = await startReceiver();
  sim = await startSimulator({ port: 0, logFile: join(dir, "log.jsonl") });
});
afterAll(async () => {
  await sim.close();
  await rx.close();
  rmSync(dir, { recursive: true, force: true });
});

const control = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${sim.url}/_sim/${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as unknown };
};

describe("control endpoints", () => {
  it("health, behaviour, log?since=, drain and reset", async () => {
    expect((await control("GET", "health")).json).toMatchObject({ ok: true, pendingCallbacks: 0 });
    const b = await control("POST", "behaviour", { callbackDelayMs: 0, rate429: 0 });
    expect(b.status).toBe(200);
    expect(b.json).toMatchObject({
      callbackDelayMs: 0,
      sentCallback: true,
      senderLimitMode: "reject",
    });
    expect((await control("POST", "behaviour", { rate429: 2 })).status).toBe(400);
    expect((await control("POST", "behaviour", { nonsense: 1 })).status).toBe(400);
    expect((await control("POST", "behaviour", "{not json")).status).toBe(400);
    expect(
      (await control("POST", "behaviour", { rules: [{ toPattern: "(", at: "create", code: 1 }] }))
        .status,
    ).toBe(400);
    expect(() => sim.configure({ latencyMs: -1 })).toThrow(/latencyMs/);

    await twilioCreate(sim, { ...send, StatusCallback: rx.url });
    await twilioCreate(sim, { ...send, Body: "second" });
    const all = (await control("GET", "log")).json as SimLogEntry[];
    expect(all.map((e) => e.body)).toEqual(["hello", "second"]);
    const since = (await control("GET", `log?since=${all[0]?.seq}`)).json as SimLogEntry[];
    expect(since.map((e) => e.body)).toEqual(["second"]);
    expect((await control("POST", "drain")).json).toEqual({ pendingCallbacks: 0 });
    expect(rx.received.length).toBe(2);

    expect((await control("POST", "reset")).status).toBe(200);
    expect((await control("GET", "log")).json).toEqual([]);
    expect(sim.log()).toEqual([]);
    // seq keeps counting across a reset, so a poller using ?since= misses nothing.
    await twilioCreate(sim, send);
    expect(sim.log()[0]?.seq).toBe((all[1]?.seq ?? 0) + 1);
    expect((await control("GET", "nothing")).status).toBe(404);
  });
});

describe("inbound and opt-outs", () => {
  it("posts a signed inbound SMS and honours STOP / START", async () => {
    sim.reset();
    rx.received.length = 0;
    const url = `${rx.url}/inbound`;
    expect(await sim.inbound({ provider: "twilio", from: USER, to: OURS, body: "Hi", url })).toBe(
      204,
    );
    const [first] = rx.received;
    expect(first?.form).toMatchObject({
      AccountSid: SID,
      From: USER,
      To: OURS,
      Body: "Hi",
      SmsStatus: "received",
    });
    expect(
      twilio.validateRequest(
        TOKEN,
        String(first?.headers["x-twilio-signature"]),
        url,
        first?.form ?? {},
      ),
    ).toBe(true);

    expect((await twilioCreate(sim, send)).status).toBe(201);
    await sim.inbound({ provider: "twilio", from: USER, to: OURS, body: " stop ", url });
    expect(rx.received[1]?.form.OptOutType).toBe("STOP");
    const blocked = await twilioCreate(sim, { ...send, From: "+14155550099" });
    expect(blocked.status).toBe(400);
    expect(blocked.json).toMatchObject({ code: 21610, status: 400 });
    expect((await twilioCreate(sim, { ...send, To: "+14155552672" })).status).toBe(201);

    // Through the control endpoint, as an out-of-process test would.
    const r = await control("POST", "inbound", {
      provider: "twilio",
      from: USER,
      to: OURS,
      body: "START",
      url,
    });
    expect(r.json).toEqual({ status: 204 });
    expect((await twilioCreate(sim, send)).status).toBe(201);
    expect((await control("POST", "inbound", { from: USER })).status).toBe(400);
    await expect(
      sim.inbound({
        provider: "twilio",
        from: USER,
        to: OURS,
        body: "x",
        url: "http://127.0.0.1:1/",
      }),
    ).rejects.toThrow(/no answer/);
    await sim.drainCallbacks();
  });
});

describe("log file", () => {
  it("writes every entry as one JSON line, flushed by close()", async () => {
    const path = join(dir, "own.jsonl");
    const s = await startSimulator({ port: 0, logFile: path, behaviour: { callbackDelayMs: 0 } });
    for (let i = 0; i < 20; i++) await twilioCreate(s, { ...send, Body: `m${i}` });
    await twilioCreate(s, { ...send, To: "bad" });
    const inMemory = s.log();
    await s.close();
    const lines = readFileSync(path, "utf8").trim().split("\n");
    expect(lines.map((l) => JSON.parse(l) as SimLogEntry)).toEqual(inMemory);
    expect(inMemory.at(-1)).toMatchObject({ outcome: "rejected", code: 21211 });
  });

  it("keeps at most maxLogEntries in memory", async () => {
    const s = await startSimulator({ port: 0, maxLogEntries: 5, maxMessages: 3 });
    for (let i = 0; i < 12; i++) await twilioCreate(s, { ...send, Body: `m${i}` });
    expect(s.log().map((e) => e.body)).toEqual(["m7", "m8", "m9", "m10", "m11"]);
    const res = await fetch(`${s.url}/_sim/health`);
    expect(((await res.json()) as { messages: number }).messages).toBe(3);
    await s.close();
  });
});

describe("smsq simulate options", () => {
  const base: SimulateCliOptions = { port: "4010", host: "127.0.0.1", twilioAccount: [] };

  it("parses the command line into simulator options", () => {
    const cmd = simulateCommand();
    let seen: SimulateCliOptions | null = null;
    cmd.action((o: SimulateCliOptions) => {
      seen = o;
    });
    cmd.parse(
      [
        "--port",
        "0",
        "--behaviour",
        '{"rate5xx":0.1}',
        "--twilio-account",
        `${SID}:tok-a`,
        "--twilio-account",
        `AC${"1".repeat(32)}:tok-b`,
        "--dialpad-token",
        "dp",
        "--dialpad-webhook-url",
        "http://127.0.0.1:9/hook",
        "--dialpad-webhook-secret",
        "s",
        "--log-file",
        "/tmp/x.jsonl",
      ],
      { from: "user" },
    );
    expect(seen).not.toBeNull();
    const opts = simulatorOptions(seen as unknown as SimulateCliOptions);
    expect(opts).toEqual({
      host: "127.0.0.1",
      port: 0,
      logFile: "/tmp/x.jsonl",
      behaviour: { rate5xx: 0.1 },
      twilio: {
        accounts: [
          { sid: SID, authToken: "tok-a" },
          { sid: `AC${"1".repeat(32)}`, authToken: "tok-b" },
        ],
      },
      dialpad: {
        accounts: [{ apiToken: "dp", webhookUrl: "http://127.0.0.1:9/hook", webhookSecret: "s" }],
      },
    });
  });

  it("rejects bad values with one clear message", () => {
    expect(() => simulatorOptions({ ...base, port: "x" })).toThrow(SimulateUsageError);
    expect(() => simulatorOptions({ ...base, behaviour: "{" })).toThrow(/--behaviour/);
    expect(() => simulatorOptions({ ...base, twilioAccount: ["nocolon"] })).toThrow(
      /--twilio-account/,
    );
  });

  it("prints where it listens and the default credentials", async () => {
    const opts = simulatorOptions({ ...base, port: "0" });
    const s = await startSimulator(opts);
    const lines = startupLines(s, opts);
    await s.close();
    expect(lines[0]).toMatch(/^smsq simulator listening on http:\/\/127\.0\.0\.1:\d+$/);
    expect(lines.join("\n")).toContain(`${SID} auth token ${TOKEN}`);
    expect(lines.join("\n")).toContain("simulator-dialpad-token");
  });
});

// The built command, as `smsq simulate` runs it (npm test builds first; skipped without a build).
const BUILT = fileURLToPath(new URL("../../dist/cli/simulate.js", import.meta.url));

describe("smsq simulate process", () => {
  it.skipIf(!existsSync(BUILT))("prints its URL, serves, and stops on SIGTERM", async () => {
    const script = `import { simulateCommand } from ${JSON.stringify(pathToFileURL(BUILT).href)};
      await simulateCommand().parseAsync(process.argv.slice(1), { from: "user" });`;
    const proc = spawn(
      process.execPath,
      ["--input-type=module", "-e", script, "--", "--port", "0"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    const url = await new Promise<string>((resolve, reject) => {
      proc.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1] as string);
      });
      proc.stderr.on("data", (d: Buffer) => (out += d.toString()));
      proc.on("exit", () => reject(new Error(`exited early:\n${out}`)));
    });
    expect(out).toContain("simulator-auth-token");
    expect(((await (await fetch(`${url}/_sim/health`)).json()) as { ok: boolean }).ok).toBe(true);
    const exited = new Promise<number | null>((resolve) => proc.on("exit", resolve));
    proc.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
