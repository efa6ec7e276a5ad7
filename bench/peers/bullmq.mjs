// The dispatch workload on BullMQ, written as its docs recommend and tuned as in
// shared/reference/queue-figures.md: jobs added in bulk (`addBulk`), one Worker with
// concurrency 50 POSTing each job to the simulator; a transient failure throws, so BullMQ
// retries it (attempts, exponential backoff), a permanent one throws UnrecoverableError.
// Completed jobs are kept (BullMQ's default), as the outcome record. Driven by
// bench/sections/dispatch.mjs: PEER_N, PEER_TAG, PEER_REDIS_URL, TWILIO_* → prints
// {"event":"enqueued"}, "ready", waits for "go", prints {"event":"done"} after N completions,
// "stop" obliterates the queue and ends it.
import { Queue, UnrecoverableError, Worker } from "bullmq";
import { URL } from "node:url";
import { messages } from "../lib/workload.mjs";
import { PermanentError, report, sendSms, waitFor } from "./send.mjs";

const env = process.env;
const N = Number(env.PEER_N);
const QUEUE = `smsq-bench-${env.PEER_TAG}`;
const CONCURRENCY = Number(env.PEER_CONCURRENCY ?? 50);
const u = new URL(env.PEER_REDIS_URL ?? "redis://127.0.0.1:6379");
const connection = { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };

const queue = new Queue(QUEUE, {
  connection,
  defaultJobOptions: { attempts: 6, backoff: { type: "exponential", delay: 1000 } },
});
const t0 = Date.now();
const all = messages(N, env.PEER_TAG);
for (let i = 0; i < N; i += 1000) {
  await queue.addBulk(all.slice(i, i + 1000).map((m) => ({ name: "sms", data: m })));
}
report({ event: "enqueued", ms: Date.now() - t0 });

let completed = 0;
let retried = 0;
let refused = 0;
let finish;
const finished = new Promise((r) => (finish = r));

console.log("ready");
await waitFor("go");
const worker = new Worker(
  QUEUE,
  async (job) => {
    try {
      return await sendSms(job.data);
    } catch (e) {
      if (e instanceof PermanentError) {
        refused += 1;
        throw new UnrecoverableError(e.message);
      }
      retried += 1;
      throw e;
    }
  },
  { connection, concurrency: CONCURRENCY },
);
worker.on("completed", () => {
  completed += 1;
  if (completed >= N) finish();
});
worker.on("error", (e) => console.error(`bullmq: ${e.message}`));
await finished;
const counts = await queue.getJobCounts("completed", "failed", "waiting", "active", "delayed");
report({ event: "done", completed, retried, refused, counts });

await waitFor("stop");
await worker.close();
await queue.obliterate({ force: true });
await queue.close();
process.exit(0);
