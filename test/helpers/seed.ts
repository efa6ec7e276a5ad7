import type { Db } from "../../src/store/db.js";
import { submitMessages } from "../../src/store/messages.js";
import { validateMessage } from "../../src/messages/validate.js";
import type { MessageInput } from "../../src/messages/schemas.js";

const SETTINGS = { defaultRegion: "US", maxSegments: 10 };

/** A valid US number for index i (NANP 2xx exchange, always valid). */
export function phone(i: number): string {
  return `+1415${String(2000000 + (i % 8000000)).padStart(7, "0")}`;
}

/** Submits n messages (to distinct numbers) and returns their ids in order. */
export async function seed(
  db: Db,
  n: number,
  over: Partial<MessageInput> = {},
  apiKeyId = "anonymous",
): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < n; start += 1000) {
    const subs = [];
    for (let i = start; i < Math.min(n, start + 1000); i++) {
      subs.push({
        message: validateMessage(
          { to: phone(i), body: `test ${i}`, ...over },
          SETTINGS,
          new Date(),
        ),
      });
    }
    const res = await submitMessages(db, apiKeyId, subs);
    for (const r of res) if (r.kind === "created") ids.push(r.message.id);
  }
  return ids;
}
