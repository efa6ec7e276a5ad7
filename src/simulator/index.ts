/**
 * The provider simulator: one HTTP server that speaks Twilio's Messages API and Dialpad's
 * /api/v2/sms closely enough for the real adapters, with the providers' limits, injectable
 * faults, signed callbacks and a log of every create request. See docs/simulator.md.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { DEFAULT_BEHAVIOUR, compileRules, mergeBehaviour } from "./behaviour.js";
import { EventScheduler, WebhookPoster } from "./callbacks.js";
import type { SimContext } from "./context.js";
import { handleControl } from "./control.js";
import { DialpadApi } from "./dialpad.js";
import { BodyTooLarge, sendJson, splitUrl, twilioError } from "./http.js";
import { ConcurrencyLimiter, RollingWindow, SenderLimiter } from "./limits.js";
import { SimLog } from "./log.js";
import { TwilioApi } from "./twilio.js";
import { TwilioStore } from "./twilio-store.js";
import type {
  SimBehaviour,
  SimDialpadAccount,
  SimTwilioAccount,
  Simulator,
  SimulatorOptions,
} from "./types.js";

export type {
  SimBehaviour,
  SimDialpadAccount,
  SimInbound,
  SimLogEntry,
  SimRule,
  SimTwilioAccount,
  Simulator,
  SimulatorOptions,
} from "./types.js";
export { DEFAULT_BEHAVIOUR, BehaviourError } from "./behaviour.js";
export { twilioSignature } from "./signing.js";

/** The Twilio account a simulator started without options accepts. */
export const DEFAULT_TWILIO_ACCOUNT: Readonly<SimTwilioAccount> = Object.freeze({
  sid: "AC" + "0".repeat(32),
  authToken: "simulator-auth-token",
});

/** The Dialpad account a simulator started without options accepts. */
export const DEFAULT_DIALPAD_ACCOUNT: Readonly<SimDialpadAccount> = Object.freeze({
  apiToken: "simulator-dialpad-token",
});

const DEFAULT_MAX = 200_000;

/** Starts a simulator; resolves once it listens. */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const now = opts.clock ?? Date.now;
  const behaviour = mergeBehaviour({ ...DEFAULT_BEHAVIOUR }, opts.behaviour ?? {});
  const twilioAccounts = opts.twilio?.accounts ?? [{ ...DEFAULT_TWILIO_ACCOUNT }];
  const dialpadAccounts = opts.dialpad?.accounts ?? [{ ...DEFAULT_DIALPAD_ACCOUNT }];
  const ctx: SimContext = {
    behaviour,
    rules: compileRules(behaviour.rules),
    random: opts.random ?? Math.random,
    now,
    log: new SimLog(opts.maxLogEntries ?? DEFAULT_MAX, opts.logFile ?? null, now),
    events: new EventScheduler(),
    poster: new WebhookPoster(),
    senders: new SenderLimiter(now),
    concurrency: new ConcurrencyLimiter(),
    dialpadWindow: new RollingWindow(now),
  };
  const store = new TwilioStore(opts.maxMessages ?? DEFAULT_MAX);
  const twilio = new TwilioApi(ctx, store, twilioAccounts);
  const dialpad = new DialpadApi(ctx, dialpadAccounts);

  const configure = (patch: unknown) => {
    const next = mergeBehaviour(ctx.behaviour, patch);
    ctx.rules = compileRules(next.rules);
    ctx.behaviour = next;
  };
  const reset = () => {
    ctx.events.cancelAll();
    ctx.log.clear();
    store.clear();
    ctx.senders.clear();
    ctx.dialpadWindow.clear();
  };

  const control = {
    logSince: (seq: number) => ctx.log.since(seq),
    behaviour: () => ctx.behaviour,
    configure,
    reset,
    inbound: (o: Parameters<TwilioApi["inbound"]>[0]) => twilio.inbound(o),
    pendingCallbacks: () => ctx.events.pendingCount(),
    drainCallbacks: () => ctx.events.drain(),
    health: () => ({
      ok: true,
      messages: store.size(),
      pendingCallbacks: ctx.events.pendingCount(),
      inFlight: ctx.concurrency.snapshot(),
      twilioAccounts: twilioAccounts.map((a) => a.sid),
      dialpadAccounts: dialpadAccounts.map((_, i) => `dialpad-${i + 1}`),
    }),
  };

  const route = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const { path, query } = splitUrl(req.url ?? "/");
    const handled = path.startsWith("/2010-04-01/")
      ? await twilio.handle(req, res, path, query)
      : path.startsWith("/api/v2/")
        ? await dialpad.handle(req, res, path, query)
        : path.startsWith("/_sim/")
          ? await handleControl(control, req, res, path, query)
          : false;
    if (!handled) {
      sendJson(res, 404, twilioError(20404, `The requested resource ${path} was not found`, 404));
    }
  };

  const server = http.createServer((req, res) => {
    route(req, res).catch((e: unknown) => {
      if (e instanceof BodyTooLarge) return sendJson(res, 413, { error: e.message });
      console.error(`smsq simulator: ${req.method} ${req.url}: ${(e as Error).stack ?? String(e)}`);
      sendJson(res, 500, { error: "simulator error" });
    });
  });
  // Benchmarks hold keep-alive connections; a longer idle timeout than Node's 5 s avoids the
  // race where the server closes a socket just as the client reuses it.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 4010, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | null = null;
  return {
    url,
    log: () => ctx.log.all(),
    configure: (b: Partial<SimBehaviour>) => configure(b),
    reset,
    inbound: (o) => twilio.inbound(o),
    pendingCallbacks: () => ctx.events.pendingCount(),
    drainCallbacks: () => ctx.events.drain(),
    close() {
      closing ??= (async () => {
        ctx.events.cancelAll();
        ctx.poster.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Held (timeout fault) and idle keep-alive sockets would keep close() waiting forever.
        server.closeAllConnections();
        await closed;
        await ctx.log.close();
      })();
      return closing;
    },
  };
}
