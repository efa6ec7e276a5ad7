/** `smsq simulate`: the provider simulator as a process of its own (see docs/simulator.md). */
import { Command } from "commander";
import {
  DEFAULT_DIALPAD_ACCOUNT,
  DEFAULT_TWILIO_ACCOUNT,
  startSimulator,
  type SimDialpadAccount,
  type SimTwilioAccount,
  type Simulator,
  type SimulatorOptions,
} from "../simulator/index.js";

/** The options `smsq simulate` parses, as commander hands them over. */
export interface SimulateCliOptions {
  port: string;
  host: string;
  logFile?: string;
  behaviour?: string;
  twilioAccount: string[];
  dialpadToken?: string;
  dialpadWebhookUrl?: string;
  dialpadWebhookSecret?: string;
}

/** A command-line mistake, reported as one line. */
export class SimulateUsageError extends Error {}

const collect = (v: string, acc: string[]) => [...acc, v];

/** Turns the command-line options into SimulatorOptions; throws SimulateUsageError. */
export function simulatorOptions(o: SimulateCliOptions): SimulatorOptions {
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new SimulateUsageError(`--port: not a port number: ${o.port}`);
  }
  const out: SimulatorOptions = { host: o.host, port, logFile: o.logFile ?? null };
  if (o.behaviour !== undefined) {
    try {
      out.behaviour = JSON.parse(o.behaviour) as SimulatorOptions["behaviour"];
    } catch (e) {
      throw new SimulateUsageError(`--behaviour: not JSON: ${(e as Error).message}`);
    }
  }
  if (o.twilioAccount.length > 0) {
    out.twilio = {
      accounts: o.twilioAccount.map((s): SimTwilioAccount => {
        const colon = s.indexOf(":");
        if (colon <= 0 || colon === s.length - 1) {
          throw new SimulateUsageError(`--twilio-account: SID:TOKEN expected, got ${s}`);
        }
        return { sid: s.slice(0, colon), authToken: s.slice(colon + 1) };
      }),
    };
  }
  if (o.dialpadToken || o.dialpadWebhookUrl || o.dialpadWebhookSecret) {
    const account: SimDialpadAccount = {
      apiToken: o.dialpadToken ?? DEFAULT_DIALPAD_ACCOUNT.apiToken,
    };
    if (o.dialpadWebhookUrl) account.webhookUrl = o.dialpadWebhookUrl;
    if (o.dialpadWebhookSecret) account.webhookSecret = o.dialpadWebhookSecret;
    out.dialpad = { accounts: [account] };
  }
  return out;
}

/** The lines printed at start: where it listens and the credentials it accepts. */
export function startupLines(sim: Simulator, opts: SimulatorOptions): string[] {
  const twilio = opts.twilio?.accounts ?? [DEFAULT_TWILIO_ACCOUNT];
  const dialpad = opts.dialpad?.accounts ?? [DEFAULT_DIALPAD_ACCOUNT];
  return [
    `smsq simulator listening on ${sim.url}`,
    ...twilio.map((a) => `  twilio account ${a.sid} auth token ${a.authToken}`),
    ...dialpad.map(
      (a, i) =>
        `  dialpad-${i + 1} api token ${a.apiToken}` +
        (a.webhookUrl ? ` webhook ${a.webhookUrl}${a.webhookSecret ? " (JWT signed)" : ""}` : ""),
    ),
    `  control: ${sim.url}/_sim/{health,log,behaviour,reset,inbound,drain}`,
  ];
}

/** The `simulate` subcommand, for src/cli/main.ts to add. */
export function simulateCommand(): Command {
  return new Command("simulate")
    .description("Run the Twilio/Dialpad provider simulator (for tests and benchmarks)")
    .option("--port <port>", "port to listen on (0 = any free port)", "4010")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--log-file <file>", "append every create request as JSON lines")
    .option("--behaviour <json>", "initial behaviour, e.g. '{\"rate5xx\":0.01}'")
    .option(
      "--twilio-account <sid:token>",
      "accept this Twilio account (repeatable)",
      collect,
      [] as string[],
    )
    .option("--dialpad-token <token>", "accept this Dialpad API token")
    .option("--dialpad-webhook-url <url>", "send that token's SMS events here")
    .option("--dialpad-webhook-secret <secret>", "sign those events as HS256 JWTs")
    .action(async (o: SimulateCliOptions) => {
      let opts: SimulatorOptions;
      let sim: Simulator;
      try {
        opts = simulatorOptions(o);
        sim = await startSimulator(opts);
      } catch (e) {
        process.stderr.write(`smsq simulate: ${(e as Error).message}\n`);
        process.exit(2);
      }
      process.stdout.write(startupLines(sim, opts).join("\n") + "\n");
      let stopping = false;
      const stop = () => {
        if (stopping) process.exit(130);
        stopping = true;
        sim.close().then(
          () => process.exit(0),
          (e: unknown) => {
            process.stderr.write(`smsq simulate: ${(e as Error).message}\n`);
            process.exit(1);
          },
        );
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    });
}
