/**
 * The status state machine under random event orders. A pure property on the lifecycle table,
 * then the real receipt path on the store (applyReceipts, in random permutations and batch
 * splits, with duplicates) and over HTTP (signed Twilio callbacks, some concurrent), each
 * compared with a small model written here: a receipt moves only a `sent` message, and only
 * to a final status; everything else is recorded and changes nothing. So a message never moves
 * backwards, a final status is final, and the first final receipt wins.
 */
import fc from "fast-check";
import twilio from "twilio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Account } from "../../src/config/accounts.js";
import {
  STATUSES,
  canTransition,
  receiptCanMove,
  type MessageStatus,
} from "../../src/messages/lifecycle.js";
import { applyReceipts, type Receipt } from "../../src/store/receipts.js";
import { startServer, type Api } from "../api/http.js";
import { ENGINES, openTestStore, type TestStore } from "../helpers/db.js";
import { seed } from "../helpers/seed.js";
import { twilioAccount } from "../helpers/accounts.js";

// ---- Model -----------------------------------------------------------------------------------

const FINAL = ["delivered", "undelivered", "failed", "expired", "canceled", "suppressed"];
const RANK: Record<string, number> = { scheduled: 0, queued: 1, sending: 2, sent: 3 };
const rank = (s: string) => (FINAL.includes(s) ? 4 : (RANK[s] ?? -1));
type ReceiptStatus = Receipt["status"];

/** What a receipt reporting `to` does to a message in `from`, per docs/lifecycle.md. */
function modelMove(from: string, to: ReceiptStatus): string {
  // Only a `sent` message's recorded provider id is its current send's; a final report moves
  // it, `sent` again is news of nothing. While queued or sending, a recorded id (if any) is an
  // earlier send's: its late receipts must not decide the new one.
  return from === "sent" && to !== "sent" ? to : from;
}

/** Folds receipts, in the order applied, through the model; a repeated dedupe key is skipped. */
function modelFold(start: string, receipts: readonly { status: ReceiptStatus; key: string }[]) {
  const seen = new Set<string>();
  let cur = start;
  for (const r of receipts) {
    if (seen.has(r.key)) continue;
    seen.add(r.key);
    cur = modelMove(cur, r.status);
  }
  return cur;
}

// ---- Generators ------------------------------------------------------------------------------

const RECEIPT_STATUSES: ReceiptStatus[] = ["sent", "delivered", "undelivered", "failed"];
const status = fc.constantFrom(...STATUSES);

interface GenReceipt {
  status: ReceiptStatus;
  providerStatus: string;
  errorCode: string | null;
}
const genReceipt: fc.Arbitrary<GenReceipt> = fc
  .record({
    status: fc.constantFrom(...RECEIPT_STATUSES),
    errorCode: fc.option(fc.constantFrom("30003", "30005", "30008"), { freq: 3 }),
  })
  .map(({ status: s, errorCode }) => ({
    status: s,
    providerStatus: s,
    errorCode: s === "undelivered" || s === "failed" ? errorCode : null,
  }));

/**
 * Receipts for one message, some repeated (a provider's retry), in a random order and split
 * into random batches: `batches` is the application order.
 */
const scenario = fc
  .record({
    start: status,
    receipts: fc.array(genReceipt, { minLength: 1, maxLength: 6 }),
    repeats: fc.array(fc.nat(), { maxLength: 3 }),
    cuts: fc.array(fc.boolean(), { maxLength: 10 }),
  })
  .chain(({ start, receipts, repeats, cuts }) => {
    const all = [...receipts, ...repeats.map((i) => receipts[i % receipts.length]!)];
    return fc.shuffledSubarray(all, { minLength: all.length }).map((order) => {
      const batches: GenReceipt[][] = [[]];
      order.forEach((r, i) => {
        if (i > 0 && cuts[i]) batches.push([]);
        batches.at(-1)!.push(r);
      });
      return { start, batches };
    });
  });

// ---- Pure ------------------------------------------------------------------------------------

describe("lifecycle table, receipts", () => {
  it("a receipt may move a message exactly when the model says so", () => {
    for (const from of STATUSES) {
      for (const to of RECEIPT_STATUSES) {
        const moves = modelMove(from, to) !== from;
        expect(receiptCanMove(from, to), `${from}→${to}`).toBe(moves);
        // And never against the lifecycle table.
        if (moves) expect(canTransition(from, to)).toBe(true);
      }
    }
  });

  it("folding random receipts never regresses, and the first final one wins", () => {
    fc.assert(
      fc.property(status, fc.array(fc.constantFrom(...RECEIPT_STATUSES)), (start, seq) => {
        let cur: MessageStatus = start;
        for (const to of seq) {
          const next = receiptCanMove(cur, to) ? to : cur;
          expect(rank(next)).toBeGreaterThanOrEqual(rank(cur));
          if (FINAL.includes(cur)) expect(next).toBe(cur);
          cur = next;
        }
        const firstFinal = seq.find((s) => FINAL.includes(s));
        expect(cur).toBe(start === "sent" && firstFinal ? firstFinal : start);
      }),
      { numRuns: 500 },
    );
  });
});

// ---- Store -----------------------------------------------------------------------------------

describe.each(ENGINES)("receipts under random orders (%s)", (engine) => {
  let store: TestStore;
  let api: Api;
  let n = 0;

  const SID = "AC" + "c".repeat(32);
  const TOKEN = "property-test-twilio-token";
  const PUBLIC = "https://sms.example.com";
  const accounts: Account[] = [twilioAccount(SID, TOKEN)];

  beforeAll(async () => {
    store = await openTestStore(engine);
    api = await startServer(store.db, { accounts, publicUrl: PUBLIC });
  });
  afterAll(async () => {
    await api?.close();
    await store?.close();
  });

  /** A new message in `status`, with a provider id recorded (from this or an earlier send). */
  async function messageIn(status: MessageStatus): Promise<{ id: string; pid: string }> {
    const [id] = await seed(store.db, 1);
    const pid = `SMprop${engine}${++n}`;
    await store.db.query(
      `update smsq.messages set status = $2, provider = 'twilio', provider_message_id = $3,
         completed_at = case when $2 = any($4::text[]) then now() end
       where id = $1`,
      [id, status, pid, FINAL],
    );
    return { id: id as string, pid };
  }

  const statusOf = async (id: string) =>
    (
      await store.db.query<{ status: string; completed: boolean }>(
        "select status, completed_at is not null as completed from smsq.messages where id = $1",
        [id],
      )
    )[0]!;

  const eventsOf = (id: string) =>
    store.db.query<{ from_status: string | null; to_status: string | null; type: string }>(
      "select from_status, to_status, type from smsq.message_events where message_id = $1 and type = 'receipt' order by id",
      [id],
    );

  /** The chain of moves the events record starts at `start`, ends at `end`, and never regresses. */
  async function checkEvents(id: string, start: string, end: string, distinct: number) {
    const events = await eventsOf(id);
    expect(events).toHaveLength(distinct);
    let cur = start;
    for (const e of events.filter((x) => x.to_status !== null)) {
      expect(e.from_status).toBe(cur);
      expect(rank(e.to_status!)).toBeGreaterThan(rank(cur));
      cur = e.to_status!;
    }
    expect(cur).toBe(end);
  }

  it("applyReceipts: any order, any batching, duplicates: the model's outcome, never backwards", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ start, batches }) => {
        const { id, pid } = await messageIn(start);
        const toReceipt = (g: GenReceipt): Receipt => ({
          provider: "twilio",
          providerMessageId: pid,
          status: g.status,
          providerStatus: g.providerStatus,
          errorCode: g.errorCode,
          dedupeKey: `twilio:${pid}:${g.providerStatus}${g.errorCode ? `:${g.errorCode}` : ""}`,
        });
        const applied: { status: ReceiptStatus; key: string }[] = [];
        let prev: string = start;
        let total = 0;
        for (const batch of batches) {
          const receipts = batch.map(toReceipt);
          const res = await applyReceipts(store.db, receipts);
          expect(res.unmatched).toEqual([]);
          expect(res.applied + res.duplicates + res.ignored).toBe(receipts.length);
          total += receipts.length;
          applied.push(...receipts.map((r) => ({ status: r.status, key: r.dedupeKey })));
          const now = (await statusOf(id)).status;
          // Never backwards; a final status stays.
          expect(rank(now)).toBeGreaterThanOrEqual(rank(prev));
          if (FINAL.includes(prev)) expect(now).toBe(prev);
          expect(now).toBe(modelFold(start, applied));
          prev = now;
        }
        expect(total).toBe(applied.length);
        const end = await statusOf(id);
        expect(end.status).toBe(modelFold(start, applied));
        expect(end.completed).toBe(FINAL.includes(end.status));
        await checkEvents(id, start, end.status, new Set(applied.map((a) => a.key)).size);
      }),
      { numRuns: engine === "pglite" ? 60 : 40 },
    );
  });

  it("signed Twilio callbacks, some concurrent: one final outcome among those reported", async () => {
    // Twilio's status words, including the ones that move nothing (queued, sending, accepted).
    const word = fc.constantFrom(
      "queued",
      "accepted",
      "sending",
      "sent",
      "delivered",
      "read",
      "undelivered",
      "failed",
      "canceled",
    );
    const callbacks = fc.array(
      fc.record({
        word,
        code: fc.option(fc.constantFrom("30003", "30008"), { freq: 2 }),
        concurrent: fc.boolean(),
      }),
      { minLength: 1, maxLength: 6 },
    );
    const path = "/v1/webhooks/twilio/status";
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<MessageStatus>("sent", "sending", "queued"),
        callbacks,
        async (start, cbs) => {
          const { id, pid } = await messageIn(start);
          const post = (w: string, code: string | null) => {
            const params: Record<string, string> = {
              AccountSid: SID,
              MessageSid: pid,
              MessageStatus: w,
              ...(code ? { ErrorCode: code } : {}),
            };
            return fetch(api.base + path, {
              method: "POST",
              headers: {
                "content-type": "application/x-www-form-urlencoded",
                "x-twilio-signature": twilio.getExpectedTwilioSignature(
                  TOKEN,
                  PUBLIC + path,
                  params,
                ),
              },
              body: new URLSearchParams(params).toString(),
            }).then((r) => r.status);
          };
          // Runs of callbacks marked concurrent go out together; the others one by one.
          const codes: number[] = [];
          let group: Promise<number>[] = [];
          for (const cb of cbs) {
            group.push(post(cb.word, cb.code));
            if (!cb.concurrent) {
              codes.push(...(await Promise.all(group)));
              group = [];
            }
          }
          codes.push(...(await Promise.all(group)));
          expect(codes.every((c) => c === 204)).toBe(true);

          const reported = cbs
            .map((c) => ({ ...c, status: twilioStatus(c.word) }))
            .filter((c): c is typeof c & { status: ReceiptStatus } => c.status !== null);
          const end = (await statusOf(id)).status;
          const finals = reported.filter((c) => FINAL.includes(c.status)).map((c) => c.status);
          if (start === "sent" && finals.length > 0) expect(finals).toContain(end);
          else expect(end).toBe(start);
          // One event per distinct callback (word and error code), however often it came.
          const keys = new Set(reported.map((c) => `${c.word}:${c.code ?? ""}`));
          await checkEvents(id, start, end, keys.size);
        },
      ),
      { numRuns: engine === "pglite" ? 25 : 15 },
    );
  });
});

/** Twilio status word → lifecycle status, written out from Twilio's docs (null: moves nothing). */
function twilioStatus(word: string): ReceiptStatus | null {
  switch (word) {
    case "sent":
      return "sent";
    case "delivered":
    case "read":
      return "delivered";
    case "undelivered":
      return "undelivered";
    case "failed":
    case "canceled":
      return "failed";
    default:
      return null;
  }
}
