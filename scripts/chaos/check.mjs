// The chaos run's invariant checker: compares smsq's store (messages, attempts, message_events)
// with what the provider simulator saw (its request log and its message list), message by
// message. Every message body carries a tag "chaos <run> <index> " so that a request at the
// simulator can be tied to the smsq message it was made for, whatever its provider id.
import { canTransition, TERMINAL_STATUSES } from "../../dist/messages/lifecycle.js";

const TERMINAL = new Set(TERMINAL_STATUSES);
const TAG = /^chaos ([a-z0-9]+) (\d+) /;
const SENT_LIKE = new Set(["sent", "delivered", "undelivered"]);
// Final smsq statuses a final provider status maps to.
const PROVIDER_FINAL = { delivered: "delivered", undelivered: "undelivered", failed: "failed" };

/** The run and index a body was tagged with, or null. */
export function tagOf(body) {
  const m = TAG.exec(body ?? "");
  return m ? `${m[1]}:${m[2]}` : null;
}

/**
 * Checks every invariant. Input:
 * - `run`: this run's tag; `submitted`: Map index → {id, body, expect} as the API accepted them;
 *   `canceled`: Set of ids the API reported canceled;
 * - `messages`, `attempts`, `events`: rows of smsq's tables;
 * - `simLog`: the simulator's create-request log; `simMessages`: its Twilio message list;
 * - `now`: when the check runs (ms), for "scheduled in the future".
 * Returns { violations: [{kind, id, detail}], figures }.
 */
export function check(input) {
  const { run, submitted, canceled, messages, attempts, events, simLog, simMessages } = input;
  const now = input.now ?? Date.now();
  const violations = [];
  const flag = (kind, id, detail) => violations.push({ kind, id, detail });
  const figures = {
    statuses: {},
    waiting: { scheduledFuture: 0, inDoubt: 0 },
    callsBeforeSending: 0,
    inDoubtFailed: 0,
    inDoubtFailedCreated: 0,
    unexpectedOutcomes: {},
    attempts: {},
    createdAtProvider: 0,
  };

  const byId = new Map(messages.map((m) => [m.id, m]));
  const byTag = new Map();
  for (const m of messages) {
    const t = tagOf(m.body);
    if (t) byTag.set(t, m);
  }

  // 1. None lost: every id the API accepted is stored, with the body it was given.
  const submittedIds = new Set();
  for (const [index, s] of submitted) {
    submittedIds.add(s.id);
    const m = byId.get(s.id);
    if (!m) flag("lost", s.id, `message ${index} was accepted by the API and is not in the store`);
    else if (m.body !== s.body) flag("lost", s.id, `message ${index}'s body changed in the store`);
  }
  for (const m of messages) {
    if (tagOf(m.body)?.startsWith(`${run}:`) && !submittedIds.has(m.id)) {
      flag("unexpected_message", m.id, "stored but never returned by the API (idempotency)");
    }
  }

  // What the simulator saw, per message tag.
  const requests = new Map(); // tag → log entries
  for (const e of simLog) {
    const t = tagOf(e.body);
    if (!t) {
      flag("unknown_request", e.id, `simulator request #${e.seq} carries no chaos tag`);
      continue;
    }
    const list = requests.get(t) ?? [];
    list.push(e);
    requests.set(t, list);
  }
  const simBySid = new Map(simMessages.map((m) => [m.sid, m]));
  const attemptsOf = new Map();
  for (const a of attempts) {
    const list = attemptsOf.get(a.message_id) ?? [];
    list.push(a);
    attemptsOf.set(a.message_id, list);
    const k = `${a.outcome}${a.error_code ? ` ${a.error_code}` : ""}`;
    figures.attempts[k] = (figures.attempts[k] ?? 0) + 1;
  }
  const eventsOf = new Map();
  for (const e of events) {
    const list = eventsOf.get(e.message_id) ?? [];
    list.push(e);
    eventsOf.set(e.message_id, list);
  }

  for (const m of messages) {
    const tag = tagOf(m.body);
    if (!tag || !tag.startsWith(`${run}:`)) continue;
    figures.statuses[m.status] = (figures.statuses[m.status] ?? 0) + 1;
    const reqs = requests.get(tag) ?? [];
    const created = reqs.filter((e) => e.outcome === "created");
    figures.createdAtProvider += created.length;
    const own = attemptsOf.get(m.id) ?? [];
    const inDoubtFailure =
      m.status === "failed" && ["in_doubt", "lease_expired"].includes(m.last_error_code);

    // 2. Terminal, or legitimately waiting (scheduled for later).
    if (!TERMINAL.has(m.status)) {
      if (m.status === "scheduled" && +new Date(m.run_at) > now) {
        figures.waiting.scheduledFuture += 1;
      } else if (m.status === "sent") {
        const at = simBySid.get(m.provider_message_id);
        flag(
          "not_settled",
          m.id,
          `still sent; the provider says ${at ? at.status : "nothing (unknown sid)"}`,
        );
      } else {
        flag("not_settled", m.id, `still ${m.status} (run_at ${new Date(m.run_at).toISOString()})`);
      }
    }

    // 3. Never created twice at the provider.
    if (created.length > 1) {
      flag(
        "duplicate_send",
        m.id,
        `created ${created.length} times at the provider: ${created.map((e) => `${e.id} (#${e.seq}, ${e.response})`).join(", ")}`,
      );
    }

    // 4. Every accepted or reconciled attempt names a message the provider created for it.
    const createdIds = new Set(created.map((e) => e.id));
    for (const a of own) {
      if (a.outcome !== "accepted" && a.outcome !== "reconciled") continue;
      if (!createdIds.has(a.provider_message_id)) {
        flag(
          "attempt_without_provider_message",
          m.id,
          `${a.outcome} attempt ${a.attempt} names ${a.provider_message_id}, which the provider did not create for this message`,
        );
      }
    }

    // 5. Every message the provider created is known to smsq (its id recorded), unless smsq
    //    ended the message failed *in doubt*: it then says it may have been sent.
    for (const e of created) {
      if (m.provider_message_id === e.id) continue;
      if (inDoubtFailure) {
        figures.inDoubtFailedCreated += 1;
        continue;
      }
      if (!TERMINAL.has(m.status) && m.in_doubt) {
        figures.waiting.inDoubt += 1; // not reconciled yet: already reported as not settled
        continue;
      }
      flag(
        "unknown_provider_message",
        m.id,
        `the provider created ${e.id} (#${e.seq}, ${e.response}); smsq recorded ${m.provider_message_id ?? "none"} (${m.status})`,
      );
    }
    if (inDoubtFailure) figures.inDoubtFailed += 1;
    if (SENT_LIKE.has(m.status) && !createdIds.has(m.provider_message_id)) {
      flag("sent_without_provider_message", m.id, `${m.status} with ${m.provider_message_id}`);
    }

    // 6. smsq's final status agrees with the provider's for the message it recorded.
    if (m.provider_message_id && TERMINAL.has(m.status) && SENT_LIKE.has(m.status)) {
      const p = simBySid.get(m.provider_message_id);
      const expected = p ? PROVIDER_FINAL[p.status] : undefined;
      if (expected && expected !== m.status) {
        flag("status_mismatch", m.id, `smsq says ${m.status}, the provider says ${p.status}`);
      }
    }

    // 7. Every provider call in the audit trail matches a request the simulator saw, and every
    //    request it saw is in the audit trail (an attempt, or an abandoned one: a worker died).
    // A call that failed before its request was written (the adapter says "before sending":
    // connect timeout, refused) never reached the provider.
    const calls = own.filter(
      (a) =>
        (a.outcome === "accepted" || a.outcome === "failed") &&
        a.error_code !== "lookup_failed" &&
        !/\(before sending\)$/.test(a.error_message ?? ""),
    );
    figures.callsBeforeSending += own.filter((a) =>
      /\(before sending\)$/.test(a.error_message ?? ""),
    ).length;
    const abandoned = own.filter((a) => a.outcome === "abandoned").length;
    const pool = [...reqs];
    const take = (pred) => {
      const i = pool.findIndex(pred);
      if (i < 0) return false;
      pool.splice(i, 1);
      return true;
    };
    // Calls with an HTTP answer first (they must match that answer), then the rest.
    const answered = calls.filter((a) => a.http_status !== null);
    const unanswered = calls.filter((a) => a.http_status === null);
    for (const a of answered) {
      if (
        !take(
          (e) =>
            e.response === a.http_status &&
            (a.outcome !== "accepted" || e.id === a.provider_message_id),
        )
      ) {
        flag(
          "attempt_without_request",
          m.id,
          `attempt ${a.attempt} (${a.outcome}, HTTP ${a.http_status}) has no matching request at the simulator`,
        );
      }
    }
    for (const a of unanswered) {
      if (!take(() => true)) {
        flag(
          "attempt_without_request",
          m.id,
          `attempt ${a.attempt} (${a.outcome} ${a.error_code}) has no request at the simulator`,
        );
      }
    }
    if (pool.length > abandoned) {
      flag(
        "request_without_attempt",
        m.id,
        `${pool.length} request(s) at the simulator beyond the audit trail (${abandoned} abandoned): ${pool.map((e) => `#${e.seq} ${e.outcome} ${e.response}`).join(", ")}`,
      );
    }

    // 8. Statuses never regressed: the events form one chain of allowed moves ending at the
    //    message's status.
    const chain = eventsOf.get(m.id) ?? [];
    let cur = null;
    for (const e of chain) {
      if (e.type === "created") {
        if (cur !== null) flag("status_chain", m.id, `a second created event (#${e.id})`);
        cur = e.to_status;
        continue;
      }
      if (e.to_status === null) continue; // a receipt that moved nothing (late or stale)
      if (cur === null) {
        flag("status_chain", m.id, `event #${e.id} before the created event`);
        cur = e.from_status;
      }
      // A claim (queued → sending) writes no event of its own: the next event shows it.
      if (cur === "queued" && e.from_status === "sending") cur = "sending";
      if (e.from_status !== cur) {
        flag(
          "status_chain",
          m.id,
          `event #${e.id} moves from ${e.from_status}, the message was ${cur}`,
        );
      }
      if (!canTransition(e.from_status, e.to_status)) {
        flag(
          "status_regressed",
          m.id,
          `event #${e.id} ${e.type}: ${e.from_status} → ${e.to_status}`,
        );
      }
      cur = e.to_status;
    }
    if (cur !== m.status) {
      flag("status_chain", m.id, `events end at ${cur}, the message is ${m.status}`);
    }

    // 9. Canceled means canceled: nothing reached the provider after the API said so.
    if (canceled.has(m.id)) {
      if (m.status !== "canceled") {
        flag("cancel_ignored", m.id, `canceled by the API, now ${m.status}`);
      }
      if (created.length > 0) {
        flag("cancel_ignored", m.id, "canceled by the API, created at the provider");
      }
    }

    // Not invariants: outcomes other than the mix planned (reported, not failed on).
    const s = submitted.get(Number(tag.split(":")[1]));
    const expect = s?.expect;
    if (expect && !canceled.has(m.id) && !expect.includes(m.status) && !inDoubtFailure) {
      const k = `${expect.join("|")} → ${m.status}${m.last_error_code ? ` (${m.last_error_code})` : ""}`;
      figures.unexpectedOutcomes[k] = (figures.unexpectedOutcomes[k] ?? 0) + 1;
    }
  }

  const byKind = {};
  for (const v of violations) byKind[v.kind] = (byKind[v.kind] ?? 0) + 1;
  return { violations, byKind, figures };
}

/** Faults the simulator injected, read from its log's responses. */
export function faultFigures(simLog) {
  const f = {
    requests: simLog.length,
    created: 0,
    ok201: 0,
    rate429: 0,
    http500Before: 0,
    http500After: 0,
    timeouts: 0,
    droppedBefore: 0,
    droppedAfter: 0,
    rejectedByRule: 0,
    other: 0,
  };
  for (const e of simLog) {
    if (e.outcome === "created") f.created += 1;
    if (e.response === 201) f.ok201 += 1;
    else if (e.response === 429) f.rate429 += 1;
    else if (e.response === 500 && e.outcome === "created") f.http500After += 1;
    else if (e.response === 500) f.http500Before += 1;
    else if (e.response === "timeout") f.timeouts += 1;
    else if (e.response === "dropped" && e.outcome === "created") f.droppedAfter += 1;
    else if (e.response === "dropped") f.droppedBefore += 1;
    else if (e.response === 400) f.rejectedByRule += 1;
    else f.other += 1;
  }
  return f;
}
