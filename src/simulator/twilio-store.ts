/**
 * Twilio's side of the simulation: the messages it holds (for fetch and the list used to
 * reconcile an ambiguous create), their JSON form, and the opt-out list fed by inbound STOP.
 * Bounded: past `max` messages the oldest are forgotten.
 */
import { rfc2822 } from "./http.js";

export type TwilioStatus = "accepted" | "queued" | "sent" | "delivered" | "undelivered";

export interface TwilioMessage {
  sid: string;
  accountSid: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  segments: number;
  status: TwilioStatus;
  createdAt: number;
  updatedAt: number;
  sentAt: number | null;
  errorCode: number | string | null;
  statusCallback: string | null;
}

const RANK: Record<TwilioStatus, number> = {
  accepted: 0,
  queued: 0,
  sent: 1,
  delivered: 2,
  undelivered: 2,
};

/** Filters of the list endpoint (`DateSent`, `DateSent<`, `DateSent>`, To, From). */
export interface ListFilter {
  to: string | null;
  from: string | null;
  /** Inclusive bounds on date_sent (or date_created while unsent), ms epoch. */
  after: number | null;
  before: number | null;
}

/** The messages Twilio knows, per account, newest last. */
export class TwilioStore {
  private bySid = new Map<string, TwilioMessage>();
  private byTo = new Map<string, TwilioMessage[]>();
  private optOuts = new Set<string>();

  constructor(private readonly max: number) {}

  /** Stores a new message, forgetting the oldest beyond the bound. */
  add(m: TwilioMessage): void {
    this.bySid.set(m.sid, m);
    const key = m.accountSid + "|" + m.to;
    const list = this.byTo.get(key);
    if (list) list.push(m);
    else this.byTo.set(key, [m]);
    if (this.bySid.size > this.max) {
      // Map iteration is insertion order: the first is the oldest, and so is the first of its To list.
      const oldest = this.bySid.values().next().value as TwilioMessage;
      this.bySid.delete(oldest.sid);
      const k = oldest.accountSid + "|" + oldest.to;
      const l = this.byTo.get(k);
      if (l) {
        l.shift();
        if (l.length === 0) this.byTo.delete(k);
      }
    }
  }

  /** The message `sid` of `accountSid`, or null. */
  get(accountSid: string, sid: string): TwilioMessage | null {
    const m = this.bySid.get(sid);
    return m && m.accountSid === accountSid ? m : null;
  }

  /** Moves a message forward to `status` (never backwards: callbacks may come out of order). */
  advance(m: TwilioMessage, status: TwilioStatus, at: number): void {
    if (RANK[status] <= RANK[m.status]) return;
    m.status = status;
    m.updatedAt = at;
    if (m.sentAt === null) m.sentAt = at;
  }

  /** One page of an account's messages matching `f`, newest first; `more` if a next page exists. */
  list(
    accountSid: string,
    f: ListFilter,
    page: number,
    pageSize: number,
  ): { items: TwilioMessage[]; more: boolean } {
    // With a To, only that number's messages are scanned; a list without one is rare (reconciliation).
    const source = f.to
      ? (this.byTo.get(accountSid + "|" + f.to) ?? [])
      : Array.from(this.bySid.values());
    const skip = page * pageSize;
    const items: TwilioMessage[] = [];
    let seen = 0;
    for (let i = source.length - 1; i >= 0; i--) {
      const m = source[i] as TwilioMessage;
      if (m.accountSid !== accountSid) continue;
      if (f.from !== null && m.from !== f.from && m.messagingServiceSid !== f.from) continue;
      const t = m.sentAt ?? m.createdAt;
      if (f.after !== null && t < f.after) continue;
      if (f.before !== null && t > f.before) continue;
      seen += 1;
      if (seen <= skip) continue;
      if (items.length === pageSize) return { items, more: true };
      items.push(m);
    }
    return { items, more: false };
  }

  /** Records an opt-out (STOP) or opt-in (START) of `number` for the whole account. */
  setOptOut(accountSid: string, number: string, out: boolean): void {
    if (out) this.optOuts.add(accountSid + "|" + number);
    else this.optOuts.delete(accountSid + "|" + number);
  }

  /** True when `number` has opted out of `accountSid`. */
  isOptedOut(accountSid: string, number: string): boolean {
    return this.optOuts.size > 0 && this.optOuts.has(accountSid + "|" + number);
  }

  /** Number of messages held. */
  size(): number {
    return this.bySid.size;
  }

  /** Forgets every message and opt-out. */
  clear(): void {
    this.bySid.clear();
    this.byTo.clear();
    this.optOuts.clear();
  }
}

/** The Message resource as Twilio's API returns it. */
export function messageJson(m: TwilioMessage) {
  const uri = `/2010-04-01/Accounts/${m.accountSid}/Messages/${m.sid}.json`;
  return {
    account_sid: m.accountSid,
    api_version: "2010-04-01",
    body: m.body,
    date_created: rfc2822(m.createdAt),
    date_sent: m.sentAt === null ? null : rfc2822(m.sentAt),
    date_updated: rfc2822(m.updatedAt),
    direction: "outbound-api",
    error_code: m.errorCode,
    error_message: null,
    from: m.from,
    messaging_service_sid: m.messagingServiceSid,
    num_media: "0",
    // Through a Messaging Service the sender is picked later, so Twilio says "0" at first.
    num_segments: m.from === null && m.status === "accepted" ? "0" : String(m.segments),
    price: null,
    price_unit: "USD",
    sid: m.sid,
    status: m.status,
    subresource_uris: { media: uri.replace(/\.json$/, "/Media.json") },
    to: m.to,
    uri,
  };
}

/** Parses a `DateSent` value (YYYY-MM-DD or an ISO date-time) into [start, end] ms, or null. */
export function parseDateSent(v: string): [number, number] | null {
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) {
    const start = Date.parse(v + "T00:00:00Z");
    return Number.isNaN(start) ? null : [start, start + 86_400_000 - 1];
  }
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : [t, t];
}
