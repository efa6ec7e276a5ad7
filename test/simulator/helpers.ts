/** Shared pieces of the simulator tests: a webhook receiver and small provider clients. */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Simulator } from "../../src/simulator/index.js";

export const SID = "AC" + "0".repeat(32);
export const TOKEN = "simulator-auth-token";
export const DIALPAD_TOKEN = "simulator-dialpad-token";
export const basic = (user: string, pass: string) =>
  "Basic " + Buffer.from(`${user}:${pass}`).toString("base64");

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  form: Record<string, string>;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Status to answer for the n-th request (0-based); default 204. */
  answer: (n: number, r: Received) => number;
  close(): Promise<void>;
}

/** A local HTTP server that records every request, as smsq's webhook endpoint would see it. */
export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const r: Receiver = {
    url: "",
    received,
    answer: () => 204,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const form = Object.fromEntries(new URLSearchParams(body));
      const rec = { path: req.url ?? "/", headers: req.headers, body, form };
      const status = r.answer(received.length, rec);
      received.push(rec);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return r;
}

/** POSTs a Twilio create; returns status and parsed JSON body. */
export async function twilioCreate(
  sim: Simulator,
  params: Record<string, string>,
  opts: { account?: string; auth?: string; signal?: AbortSignal } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const account = opts.account ?? SID;
  const res = await fetch(`${sim.url}/2010-04-01/Accounts/${account}/Messages.json`, {
    method: "POST",
    headers: {
      authorization: opts.auth ?? basic(SID, TOKEN),
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams(params).toString(),
    signal: opts.signal,
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** GETs a Twilio path with the default account's credentials. */
export async function twilioGet(
  sim: Simulator,
  path: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${sim.url}/2010-04-01/Accounts/${SID}${path}`, {
    headers: { authorization: basic(SID, TOKEN) },
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** POSTs a Dialpad send. */
export async function dialpadSend(
  sim: Simulator,
  body: unknown,
  token = DIALPAD_TOKEN,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${sim.url}/api/v2/sms`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** A random() that returns the given values in turn (then 0.99: "no"). */
export function scriptedRandom(values: number[]): () => number {
  const queue = [...values];
  return () => queue.shift() ?? 0.99;
}

/** A clock the test moves by hand. */
export function manualClock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

/** Polls `cond` every few ms until it holds (for events the simulator cannot signal). */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5_000) {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The simulator's in-flight create count for `account`, from /_sim/health. */
export async function inFlight(sim: Simulator, account = SID): Promise<number> {
  const h = (await (await fetch(`${sim.url}/_sim/health`)).json()) as {
    inFlight: Record<string, number>;
  };
  return h.inFlight[account] ?? 0;
}
