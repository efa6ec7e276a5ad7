// The dispatch workload on pg-boss 10, written as its docs recommend and tuned as in
// shared/reference/queue-figures.md: jobs inserted in batches (`insert`), four `work()`
// loops fetching 1000 jobs each, every job POSTed to the simulator; a transient failure fails
// just that job (`boss.fail`) so pg-boss retries it (retryLimit, exponential backoff), the rest
// of the batch completes when the handler resolves. Driven by bench/sections/dispatch.mjs:
//   PEER_N, PEER_TAG, PEER_DATABASE_URL, TWILIO_* → prints {"event":"enqueued"}, "ready", waits
//   for "go" (IPC), prints {"event":"done"} once pg-boss has recorded N completions, "stop" ends it.
import { setTimeout } from "node:timers";
import PgBoss from "pg-boss";
import { messages } from "../lib/workload.mjs";
import { PermanentError, report, sendSms, waitFor } from "./send.mjs";

const env = process.env;
const N = Number(env.PEER_N);
const QUEUE = `sms-${env.PEER_TAG}`;
const WORKERS = Number(env.PEER_WORKERS ?? 4);
const BATCH = Number(env.PEER_BATCH ?? 1000);

const boss = new PgBoss({ connectionString: env.PEER_DATABASE_URL, max: 10 });
boss.on("error", (e) => console.error(`pg-boss: ${e.message}`));
await boss.start();
await boss.createQueue(QUEUE, { retryLimit: 5, retryDelay: 1, retryBackoff: true });

const t0 = Date.now();
const all = messages(N, env.PEER_TAG);
for (let i = 0; i < N; i += 500) {
  await boss.insert(all.slice(i, i + 500).map((m) => ({ name: QUEUE, data: m })));
}
report({ event: "enqueued", ms: Date.now() - t0 });

const countCompleted = async () =>
  Number(
    (
      await boss
        .getDb()
        .executeSql(
          `select count(*)::int as n from pgboss.job where name = $1 and state = 'completed'`,
          [QUEUE],
        )
    ).rows[0].n,
  );

let handled = 0;
let retried = 0;
let refused = 0;
let finish;
const finished = new Promise((r) => (finish = r));

console.log("ready");
await waitFor("go");
for (let w = 0; w < WORKERS; w++) {
  await boss.work(QUEUE, { batchSize: BATCH, pollingIntervalSeconds: 0.5 }, async (jobs) => {
    const outcomes = await Promise.allSettled(jobs.map((j) => sendSms(j.data)));
    const failed = [];
    outcomes.forEach((o, k) => {
      if (o.status === "fulfilled") return;
      if (o.reason instanceof PermanentError) refused += 1;
      else failed.push(jobs[k].id);
    });
    // Fail only the transient failures: pg-boss retries them; a permanent refusal is an outcome
    // (completed with the error), and the handler's return completes everything still active.
    if (failed.length > 0) {
      retried += failed.length;
      await boss.fail(QUEUE, failed, { message: "transient" });
    }
    handled += jobs.length - failed.length;
    if (handled >= N) finish();
  });
}
await finished;
// pg-boss completes a batch after the handler returns, without awaiting it: wait until the
// store has every completion, so the CPU measured covers the whole job.
while ((await countCompleted()) < N) await new Promise((r) => setTimeout(r, 20));
report({ event: "done", handled, retried, refused, completed: await countCompleted() });

await waitFor("stop");
await boss.stop({ graceful: false, wait: true });
await boss.deleteQueue(QUEUE).catch(() => undefined);
process.exit(0);
