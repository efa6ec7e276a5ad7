/** The database's clock as seen from this process: rate-limit slots are on the database's time. */
import type { Queryable } from "./db.js";

const num = (v: unknown): number => (typeof v === "number" ? v : Number(v));

/**
 * Local clock minus the database's, as NTP estimates it: the midpoint of a round trip, from the
 * quickest of a few trips (queueing delay only ever adds error). Slots are on the database's
 * clock, so workers on several hosts share one timeline; a bad estimate shifts a worker's sends
 * against the others', so it is measured apart from the claim and refreshed once a minute.
 */
export class ClockOffset {
  private offset = 0;
  private at = -Infinity;

  /** The current estimate, measuring it first when it is missing or a minute old. */
  async get(db: Queryable): Promise<number> {
    if (Date.now() - this.at > 60_000) {
      let best = { rtt: Infinity, offset: 0 };
      for (let i = 0; i < 5; i++) {
        const sent = Date.now();
        const dbNow = await dbClock(db);
        const received = Date.now();
        if (received - sent < best.rtt) {
          best = { rtt: received - sent, offset: (sent + received) / 2 - dbNow };
        }
      }
      this.offset = best.offset;
      this.at = Date.now();
    }
    return this.offset;
  }
}

export async function dbClock(tx: Queryable): Promise<number> {
  const [r] = await tx.query<{ now_ms: number }>(
    `select extract(epoch from clock_timestamp()) * 1000 as now_ms`,
  );
  return num(r?.now_ms);
}
