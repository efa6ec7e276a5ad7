// Priority lanes under a rate limit: a one-time code submitted behind 100,000 queued bulk
// messages leaves within a second of its sender having a token, while bulk keeps flowing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, type Running } from "../../src/app.js";
import { loadConfig } from "../../src/config/index.js";
import { DEFAULT_TWILIO_ACCOUNT } from "../../src/simulator/index.js";
import { submitMessages } from "../../src/store/messages.js";
import { validateMessage } from "../../src/messages/validate.js";
import { waitFor } from "../helpers/db.js";
import { silentLog } from "../helpers/log.js";
import { spawnSimulator } from "../helpers/proc.js";
import { seed } from "../helpers/seed.js";

const BULK = Number(process.env.SMSQ_TEST_BULK ?? 100_000);
const RATE = 10; // the sender's segments per second

describe("a one-time code behind a bulk backlog", () => {
  let sim: Awaited<ReturnType<typeof spawnSimulator>>;
  let running: Running;

  beforeAll(async () => {
    sim = await spawnSimulator({});
    running = await start(
      loadConfig({
        SMSQ_PORT: "0",
        TWILIO_ACCOUNT_SID: DEFAULT_TWILIO_ACCOUNT.sid,
        TWILIO_AUTH_TOKEN: DEFAULT_TWILIO_ACCOUNT.authToken,
        TWILIO_FROM: "+14155550000",
        TWILIO_MPS: String(RATE),
        TWILIO_BASE_URL: sim.url,
        SMSQ_POLL_INTERVAL_MS: "50",
      }),
      { api: false, worker: true, log: silentLog, memory: true },
    );
  }, 180_000);
  afterAll(async () => {
    await running?.stop();
    await sim?.stop();
  });

  it(
    `leaves within a second with ${BULK} bulk messages queued ahead`,
    { timeout: 240_000 },
    async () => {
      await seed(running.db, BULK, { priority: "low" });
      running.dispatcher?.wake();
      await waitFor(
        async () => ((await sim.log()).length >= 10 ? true : undefined),
        30_000,
        "bulk flowing",
      );
      // A body of its own per run: a retried run must not find the previous run's code.
      const code = `Your code is ${Math.random().toString().slice(2, 8)}`;
      const submitted = Date.now();
      const [otp] = await submitMessages(running.db, "anonymous", [
        {
          message: validateMessage(
            { to: "+14155559999", body: code, priority: "high" },
            { defaultRegion: "US", maxSegments: 10 },
            new Date(),
          ),
        },
      ]);
      expect(otp?.kind).toBe("created");
      running.dispatcher?.wake();
      const at = await waitFor(
        async () => (await sim.log()).find((e) => e.body === code)?.at,
        10_000,
        "the code sent",
      );
      const log = await sim.log();
      const bulkAfter = log.filter((e) => e.at > at && e.body !== code).length;
      const waited = at - submitted;
      console.log(
        `one-time code behind ${BULK} bulk: left ${waited} ms after submit (a token every ${1000 / RATE} ms); bulk sent so far ${log.length - 1}`,
      );
      // A token opens every 100 ms; the claim already holding the next slots adds at most its
      // horizon. Within a second, with margin for the claim that was running.
      expect(waited).toBeLessThan(1000);
      await waitFor(
        async () =>
          (await sim.log()).filter((e) => e.at > at).length > bulkAfter ? true : undefined,
        10_000,
        "bulk goes on",
      );
    },
  );
});
