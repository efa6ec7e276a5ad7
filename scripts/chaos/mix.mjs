// The chaos run's message mix (used by scripts/chaos/run.mjs). Each message has a unique tag in
// its body and an idempotency key; most go to a number of their own, 10 % to a pool of 100
// shared numbers (so reconciliation has to tell several messages to one number apart). Numbers
// ending 13 are refused at create (21211), 77 end undelivered (30003). Some are scheduled a few
// seconds ahead, a few a day ahead (they stay waiting; half of those are canceled), some get a
// short validity, some a cancel right away.

const FAR_FUTURE_MS = 24 * 3600_000;
const phone = (n) => `+1415${String(2_000_000 + n).padStart(7, "0")}`;
const POOL = Array.from({ length: 100 }, (_, k) => phone(7_000_000 + k * 10 + 1)); // ends in 1

/** The planner of run `run`: message i's request, its acceptable final statuses, and whether to cancel it. */
export function messagePlanner(run, rand) {
  return function planMessage(i) {
    const r = rand();
    const shared = rand() < 0.1;
    const to = shared ? POOL[Math.floor(rand() * POOL.length)] : phone(i);
    const lane = rand();
    const priority = lane < 0.1 ? "high" : lane < 0.8 ? "normal" : "low";
    const shape = rand();
    let body = `chaos ${run} ${i} `;
    if (shape < 0.1) {
      body += "long ".repeat(60);
    } // 2 segments
    else if (shape < 0.15) {
      body += "unicode \u{1F680} ok";
    } // UCS-2
    else body += "hello";
    const m = { to, body, priority, idempotencyKey: `chaos-${run}-${i}` };
    let expect = to.endsWith("13")
      ? ["failed"]
      : to.endsWith("77")
        ? ["undelivered"]
        : ["delivered"];
    let cancel = false;
    if (r < 0.04) {
      m.sendAt = new Date(Date.now() + 2000 + rand() * 18_000).toISOString();
    } else if (r < 0.045) {
      m.sendAt = new Date(Date.now() + FAR_FUTURE_MS).toISOString();
      expect = ["scheduled"];
      cancel = rand() < 0.5;
    } else if (r < 0.055) {
      m.validUntil = new Date(Date.now() + 3000 + rand() * 7000).toISOString();
      // Queued even when the backlog says it will lapse (else 422 deadline_unmeetable): a
      // message that runs out of time in the queue is part of what the checker checks.
      m.onDeadline = "accept";
      expect = [...expect, "expired"];
    } else if (r < 0.06) {
      cancel = true; // canceled right after submission, racing the workers
      expect = [...expect, "canceled"];
    }
    return { m, expect, cancel };
  };
}
