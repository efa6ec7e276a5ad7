// Found by the chaos run (scripts/chaos/run.mjs): a worker SIGKILLed after the provider accepted
// a message, before it recorded the call; the lease ran out, the message went back to the queue
// in doubt, and its validity ran out before it could be reconciled. Housekeeping then ended it
// `expired` ("never sent") while the provider had delivered it. A message in doubt whose
// validity runs out must end `failed` with `in_doubt`, as the policy does for a retry that would
// fall after the validity (docs/policy.md §2).
import { describe, expect, it } from "vitest";
import { getMessage } from "../../src/store/messages.js";
import { claimDue, expireOverdue, reapExpiredLeases } from "../../src/store/dispatch.js";
import { ENGINES, useTestStore } from "../helpers/db.js";
import { seed } from "../helpers/seed.js";

describe.each(ENGINES)("validity running out while in doubt (%s)", (engine) => {
  const store = useTestStore(engine);

  it("ends a message reaped from a dead worker failed in_doubt, not expired", async () => {
    const [id] = await seed(store.db, 1, {
      validUntil: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const claimed = await claimDue(store.db, {
      workerId: "dead-worker",
      limit: 1,
      leaseMs: 60_000,
      accounts: [{ account: "twilio", provider: "twilio", position: 0 }],
    });
    expect(claimed.map((m) => m.id)).toEqual([id]);
    // The worker dies mid-call; its lease and then the message's validity run out.
    await store.db.query(
      `update smsq.messages set lease_expires_at = now() - interval '1 second',
              valid_until = now() - interval '1 millisecond' where id = $1`,
      [id],
    );
    expect(await reapExpiredLeases(store.db, 10, 5)).toBe(1);
    expect(await expireOverdue(store.db, 10)).toBe(1);
    const m = await getMessage(store.db, id as string);
    expect(m?.status).toBe("failed");
    expect(m?.lastError?.code).toBe("in_doubt");
    expect(m?.inDoubt).toBe(true);
    expect(m?.events.at(-1)).toMatchObject({ fromStatus: "queued", toStatus: "failed" });
  });

  it("still ends a message that was never tried expired", async () => {
    const [id] = await seed(store.db, 1);
    await store.db.query(
      "update smsq.messages set valid_until = now() - interval '1 second' where id = $1",
      [id],
    );
    expect(await expireOverdue(store.db, 10)).toBe(1);
    const m = await getMessage(store.db, id as string);
    expect(m?.status).toBe("expired");
    expect(m?.lastError?.code).toBe("expired");
    expect(m?.events.at(-1)).toMatchObject({ fromStatus: "queued", toStatus: "expired" });
  });
});
