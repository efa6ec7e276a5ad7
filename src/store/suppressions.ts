/** The suppression list: numbers smsq must not message (opt-outs, permanent failures). */
import type { Db } from "./db.js";

export interface Suppression {
  phone: string;
  reason: string;
  source: string;
  createdAt: string;
}

interface Row {
  phone: string;
  reason: string;
  source: string;
  created_at: Date;
  [k: string]: unknown;
}

const toSuppression = (r: Row): Suppression => ({
  phone: r.phone,
  reason: r.reason,
  source: r.source,
  createdAt: new Date(r.created_at).toISOString(),
});

/** Adds a number; returns it and whether it was new (an existing entry is left as it was). */
export async function addSuppression(
  db: Db,
  phone: string,
  reason: string,
  source: string,
): Promise<{ suppression: Suppression; created: boolean }> {
  const inserted = await db.query<Row>(
    `insert into smsq.suppressions (phone, reason, source) values ($1, $2, $3)
     on conflict (phone) do nothing
     returning *`,
    [phone, reason, source],
  );
  if (inserted[0]) return { suppression: toSuppression(inserted[0]), created: true };
  const existing = await db.query<Row>("select * from smsq.suppressions where phone = $1", [phone]);
  if (!existing[0]) throw new Error("suppression vanished");
  return { suppression: toSuppression(existing[0]), created: false };
}

/** Removes a number; returns false when it was not on the list. */
export async function removeSuppression(db: Db, phone: string): Promise<boolean> {
  const rows = await db.query("delete from smsq.suppressions where phone = $1 returning phone", [
    phone,
  ]);
  return rows.length > 0;
}

/** One entry, or null. */
export async function getSuppression(db: Db, phone: string): Promise<Suppression | null> {
  const rows = await db.query<Row>("select * from smsq.suppressions where phone = $1", [phone]);
  return rows[0] ? toSuppression(rows[0]) : null;
}

/** Entries ordered by phone, after `afterPhone`; one extra row tells whether more exist. */
export async function listSuppressions(
  db: Db,
  limit: number,
  afterPhone: string | null,
): Promise<{ data: Suppression[]; next: string | null }> {
  const rows = await db.query<Row>(
    `select * from smsq.suppressions
     where $1::text is null or phone > $1
     order by phone limit $2`,
    [afterPhone, limit + 1],
  );
  const page = rows.slice(0, limit);
  return {
    data: page.map(toSuppression),
    next: rows.length > limit ? (page.at(-1)?.phone ?? null) : null,
  };
}
