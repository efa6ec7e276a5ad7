/**
 * The `/_sim/*` control endpoints, so a simulator in another process (`smsq simulate`) can be
 * steered and inspected like one started in process.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { BehaviourError } from "./behaviour.js";
import { readBody, sendJson } from "./http.js";
import type { SimBehaviour, SimInbound, SimLogEntry } from "./types.js";

/** What the control endpoints need from the simulator. */
export interface ControlTarget {
  logSince(seq: number): readonly SimLogEntry[];
  behaviour(): SimBehaviour;
  configure(b: unknown): void;
  reset(): void;
  inbound(o: SimInbound): Promise<number>;
  pendingCallbacks(): number;
  drainCallbacks(): Promise<void>;
  health(): Record<string, unknown>;
}

const bad = (res: ServerResponse, message: string) => sendJson(res, 400, { error: message });

function parseInbound(raw: string): SimInbound | string {
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    return "body: JSON expected";
  }
  if (typeof o !== "object" || o === null) return "body: a JSON object expected";
  const r = o as Record<string, unknown>;
  if (r.provider !== undefined && r.provider !== "twilio") return 'provider: only "twilio"';
  for (const k of ["from", "to", "body", "url"] as const) {
    if (typeof r[k] !== "string") return `${k}: a string is required`;
  }
  if (r.account !== undefined && typeof r.account !== "string") return "account: a string";
  const out: SimInbound = {
    provider: "twilio",
    from: r.from as string,
    to: r.to as string,
    body: r.body as string,
    url: r.url as string,
  };
  if (typeof r.account === "string") out.account = r.account;
  return out;
}

/** Handles a request under /_sim/; false when the path is not one of ours. */
export async function handleControl(
  sim: ControlTarget,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: URLSearchParams,
): Promise<boolean> {
  const route = `${req.method ?? "GET"} ${path}`;
  switch (route) {
    case "GET /_sim/health":
      sendJson(res, 200, sim.health());
      return true;
    case "GET /_sim/log": {
      const since = Number(query.get("since") ?? 0);
      if (!Number.isFinite(since)) return (bad(res, "since: a number"), true);
      sendJson(res, 200, sim.logSince(since));
      return true;
    }
    case "GET /_sim/behaviour":
      sendJson(res, 200, sim.behaviour());
      return true;
    case "POST /_sim/behaviour": {
      const raw = await readBody(req);
      try {
        sim.configure(JSON.parse(raw));
      } catch (e) {
        if (e instanceof BehaviourError || e instanceof SyntaxError) {
          return (bad(res, e.message), true);
        }
        throw e;
      }
      sendJson(res, 200, sim.behaviour());
      return true;
    }
    case "POST /_sim/reset":
      sim.reset();
      sendJson(res, 200, { ok: true });
      return true;
    case "POST /_sim/inbound": {
      const o = parseInbound(await readBody(req));
      if (typeof o === "string") return (bad(res, o), true);
      try {
        sendJson(res, 200, { status: await sim.inbound(o) });
      } catch (e) {
        sendJson(res, 502, { error: (e as Error).message });
      }
      return true;
    }
    case "POST /_sim/drain":
      await sim.drainCallbacks();
      sendJson(res, 200, { pendingCallbacks: sim.pendingCallbacks() });
      return true;
    default:
      return false;
  }
}
