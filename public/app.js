// smsq dashboard: live statistics (GET /v1/stats), account health, the queue, recent messages,
// a search by id or phone number with the message's timeline, and a send form. Plain browser
// JavaScript, no build step, nothing fetched from outside this server.
import { fmt, meter, seriesChart, stackedBar } from "/chart.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 3000;
const KEY = "smsq.apiKey";
const store = { session: window.sessionStorage, local: localStorage };

let apiKey = store.session.getItem(KEY) || store.local.getItem(KEY) || "";
let needKey = false;
let lastStats = null;
let shown = null; // id of the message whose timeline is open
let timer = null;

class NeedKey extends Error {}

async function api(path, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  if (init.body) headers["content-type"] = "application/json";
  const res = await fetch(path, { ...init, headers });
  if (res.status === 401) {
    askForKey(apiKey ? "That key was refused. Enter a valid API key." : null);
    throw new NeedKey("an API key is needed");
  }
  const data = await res.json();
  if (!res.ok) {
    throw new Error(data.error ? `${data.error.code}: ${data.error.message}` : res.statusText);
  }
  return data;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "");
const pct = (r) => (r === null || r === undefined ? "–" : `${(r * 100).toFixed(1)} %`);

function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

// ---- API key ---------------------------------------------------------------------------------

function askForKey(reason) {
  needKey = true;
  $("key-panel").hidden = false;
  $("dashboard").classList.add("locked");
  if (reason) $("key-reason").textContent = reason;
  $("key").focus();
}

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  apiKey = $("key").value.trim();
  store.session.setItem(KEY, apiKey);
  if ($("key-remember").checked) store.local.setItem(KEY, apiKey);
  else store.local.removeItem(KEY);
  $("key").value = "";
  needKey = false;
  $("key-panel").hidden = true;
  $("dashboard").classList.remove("locked");
  $("forget-key").hidden = false;
  refresh();
});

$("forget-key").addEventListener("click", () => {
  apiKey = "";
  store.session.removeItem(KEY);
  store.local.removeItem(KEY);
  $("forget-key").hidden = true;
  refresh();
});

// ---- statistics ------------------------------------------------------------------------------

function kpi(label, value, note, attrs = {}) {
  return el(
    "div",
    { class: "kpi", ...attrs },
    el("span", { class: "kpi-label" }, label),
    el("span", { class: "kpi-value" }, value),
    el("span", { class: "kpi-note" }, note ?? ""),
  );
}

function renderKpis(s) {
  const due = s.queue.lanes.reduce((n, l) => n + l.due, 0);
  const queued = s.queue.lanes.reduce((n, l) => n + l.queued, 0);
  const oldest = Math.max(-1, ...s.queue.lanes.map((l) => l.oldestDueSeconds ?? -1));
  const r = s.retries;
  $("kpis").replaceChildren(
    kpi("Sent", fmt(s.totals.sent), `${fmt(s.totals.attempts)} provider calls`, {
      "data-kpi": "sent",
    }),
    kpi("Failed calls", fmt(s.totals.failed), "failed or abandoned", { "data-kpi": "failed" }),
    kpi("Delivered", fmt(s.outcomes.delivered), `${fmt(s.totals.completed)} messages ended`, {
      "data-kpi": "delivered",
    }),
    kpi("Delivery rate", pct(s.deliveryRate), "of delivered, undelivered, failed", {
      "data-kpi": "delivery-rate",
    }),
    kpi(
      "Retry success",
      pct(r.successRate),
      `${fmt(r.succeeded)} of ${fmt(r.succeeded + r.failed)} retried${r.pending ? `, ${fmt(r.pending)} pending` : ""}`,
    ),
    kpi(
      "Calls per message",
      s.attemptsPerMessage === null ? "–" : s.attemptsPerMessage.toFixed(2),
      "of the messages that ended",
    ),
    kpi("Due now", fmt(due), `${fmt(queued)} queued, ${fmt(s.queue.scheduled)} scheduled`, {
      "data-kpi": "due",
    }),
    kpi("Oldest due", oldest < 0 ? "–" : age(oldest), "waiting since it became due"),
  );
}

const OUTCOME_CLASSES = {
  delivered: "o-delivered",
  undelivered: "o-undelivered",
  failed: "o-failed",
  expired: "o-expired",
  canceled: "o-canceled",
  suppressed: "o-suppressed",
};

function renderOutcomes(s) {
  const total = Object.values(s.outcomes).reduce((a, b) => a + b, 0);
  const parts = Object.entries(s.outcomes).map(([k, v]) => ({
    label: k,
    value: v,
    cls: OUTCOME_CLASSES[k],
  }));
  $("outcomes").replaceChildren(
    stackedBar(parts, { height: 22 }),
    el(
      "ul",
      { class: "outcome-list" },
      parts.map((p) =>
        el(
          "li",
          { "data-outcome": p.label },
          el("i", { class: `sw ${p.cls}` }),
          el("span", {}, p.label),
          el("b", {}, fmt(p.value)),
          el("span", { class: "muted" }, total ? `${((p.value / total) * 100).toFixed(1)} %` : ""),
        ),
      ),
    ),
  );
}

function renderErrors(s) {
  const codes = s.errors.byCode;
  if (codes.length === 0) {
    $("errors").replaceChildren(el("p", { class: "muted" }, "No errors in this window."));
    return;
  }
  const max = Math.max(...codes.map((e) => e.attempts + e.messages));
  $("errors").replaceChildren(
    el(
      "ul",
      { class: "ranking" },
      codes.map((e) =>
        el(
          "li",
          { "data-code": e.code ?? "" },
          el(
            "div",
            { class: "rank-head" },
            el("b", { class: "mono" }, e.code ?? "(no code)"),
            el("span", { class: "tag" }, e.class ?? "unclassified"),
            el(
              "span",
              { class: "muted right" },
              `${fmt(e.attempts)} calls · ${fmt(e.messages)} messages`,
            ),
          ),
          meter(e.attempts + e.messages, max, "bar-failed"),
        ),
      ),
    ),
    el(
      "p",
      { class: "muted small" },
      "By class: ",
      s.errors.byClass
        .map((c) => `${c.class ?? "unclassified"} ${fmt(c.attempts + c.messages)}`)
        .join(" · "),
    ),
  );
}

function renderQueue(s) {
  const max = Math.max(1, ...s.queue.lanes.map((l) => l.queued + l.sending + l.sent));
  $("queue").replaceChildren(
    el(
      "ul",
      { class: "ranking" },
      s.queue.lanes.map((l) =>
        el(
          "li",
          { "data-lane": l.lane, "data-queued": l.queued, "data-due": l.due },
          el(
            "div",
            { class: "rank-head" },
            el("b", {}, l.lane),
            el(
              "span",
              { class: "muted right" },
              `${fmt(l.due)} due · ${fmt(l.queued - l.due)} waiting · ${fmt(l.sending)} sending · ${fmt(l.sent)} awaiting receipt`,
            ),
          ),
          stackedBar(
            [
              { label: "due", value: l.due, cls: "q-due" },
              { label: "waiting", value: l.queued - l.due, cls: "q-waiting" },
              { label: "sending", value: l.sending, cls: "q-sending" },
              { label: "awaiting receipt", value: l.sent, cls: "q-sent" },
              // Scale every lane to the busiest one.
              {
                label: "",
                value: max - (l.queued + l.sending + l.sent),
                cls: "empty",
              },
            ],
            { height: 14 },
          ),
          el("span", { class: "muted small" }, `oldest due: ${age(l.oldestDueSeconds)}`),
        ),
      ),
    ),
    el(
      "div",
      { class: "legend" },
      el("span", {}, el("i", { class: "sw q-due" }), "due"),
      el("span", {}, el("i", { class: "sw q-waiting" }), "waiting (retry, cooldown)"),
      el("span", {}, el("i", { class: "sw q-sending" }), "sending"),
      el("span", {}, el("i", { class: "sw q-sent" }), "awaiting receipt"),
      el("span", { class: "muted" }, `scheduled: ${fmt(s.queue.scheduled)}`),
    ),
  );
}

function renderAccounts(accounts, until) {
  if (accounts.length === 0) {
    $("accounts").replaceChildren(el("p", { class: "muted" }, "No provider account configured."));
    return;
  }
  const now = Date.parse(until);
  const rate = (a) => {
    // Configured vs learned send rate, when the server reports them.
    const r = a.rate;
    if (!r) return "–";
    const v = (x) => (x === null || x === undefined ? "–" : `${fmt(x)}/s`);
    return `${v(r.learned)} learned / ${v(r.configured)} configured`;
  };
  $("accounts").replaceChildren(
    el(
      "table",
      {},
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          ["Account", "Circuit", "Cooldown", "Rate", "Today", "Calls (window)", "Latency"].map(
            (h) => el("th", {}, h),
          ),
        ),
      ),
      el(
        "tbody",
        {},
        accounts.map((a) => {
          const cooling = a.cooldownUntil && Date.parse(a.cooldownUntil) > now;
          const w = a.window ?? { attempts: 0, sent: 0, failed: 0, latencyMs: null };
          return el(
            "tr",
            { "data-account": a.name, "data-circuit": a.circuit },
            el(
              "td",
              {},
              el("b", {}, a.name),
              " ",
              el("span", { class: "muted" }, a.kind),
              a.routePosition !== null && a.routePosition !== undefined
                ? el("span", { class: "muted" }, ` · route #${a.routePosition + 1}`)
                : null,
            ),
            el(
              "td",
              {},
              el("span", { class: `pill circuit-${a.circuit}` }, a.circuit.replace("_", "-")),
              a.circuitReason ? el("div", { class: "muted small" }, a.circuitReason) : null,
              a.circuit === "open" && a.nextProbeAt
                ? el("div", { class: "muted small" }, `probe at ${time(a.nextProbeAt)}`)
                : null,
            ),
            el(
              "td",
              {},
              cooling ? `until ${time(a.cooldownUntil)}` : "–",
              cooling && a.cooldownReason
                ? el("div", { class: "muted small" }, a.cooldownReason)
                : null,
            ),
            el("td", {}, rate(a)),
            el(
              "td",
              {},
              `${fmt(a.segmentsToday ?? 0)} segments`,
              a.dailySegmentBudget ? ` of ${fmt(a.dailySegmentBudget)}` : "",
            ),
            el(
              "td",
              {},
              `${fmt(w.attempts)}`,
              w.failed ? el("span", { class: "error" }, ` (${fmt(w.failed)} failed)`) : "",
            ),
            el("td", {}, w.latencyMs === null ? "–" : `${fmt(w.latencyMs)} ms`),
          );
        }),
      ),
    ),
  );
}

function renderStats(s) {
  lastStats = s;
  renderKpis(s);
  const unit = s.window.bucketSeconds === 60 ? "per minute" : `per ${s.window.bucketSeconds} s`;
  $("series-unit").textContent = `${unit}, last ${s.window.minutes} min`;
  seriesChart($("series-chart"), s.series, s.window);
  renderOutcomes(s);
  renderErrors(s);
  renderQueue(s);
  renderAccounts(s.accounts, s.window.until);
}

// ---- messages --------------------------------------------------------------------------------

function statusPill(m) {
  return el(
    "span",
    { class: `status status-${m.status}` },
    m.status + (m.retrying ? " (retrying)" : ""),
  );
}

function messageRow(m) {
  const err = m.lastError ? `${m.lastError.code ?? ""} ${m.lastError.message ?? ""}` : "";
  const link = el("a", { href: `#${m.id}`, "data-id": m.id }, m.id);
  link.addEventListener("click", (e) => {
    e.preventDefault();
    show(m.id, true);
  });
  return el(
    "tr",
    {},
    el("td", {}, time(m.createdAt)),
    el("td", { class: "mono" }, link),
    el("td", { class: "mono" }, m.to),
    el("td", {}, statusPill(m)),
    el("td", {}, m.priority),
    el("td", {}, `${m.segments} ${m.encoding}`),
    el("td", {}, m.attemptCount),
    el("td", { class: "error" }, err),
  );
}

function attemptText(a) {
  let t = `attempt ${a.attempt} via ${a.provider}/${a.account}: ${a.outcome}`;
  if (a.errorCode) t += ` ${a.errorCode}`;
  if (a.errorClass) t += ` [${a.errorClass}]`;
  if (a.httpStatus) t += ` HTTP ${a.httpStatus}`;
  if (a.errorMessage) t += ` (${a.errorMessage})`;
  if (a.latencyMs !== null && a.latencyMs !== undefined) t += ` in ${a.latencyMs} ms`;
  return t;
}

function eventText(e) {
  const move = e.toStatus
    ? `${e.fromStatus ? `${e.fromStatus} → ` : ""}${e.toStatus}`
    : "no change";
  const d = e.detail ?? {};
  const extra = [
    d.providerStatus ? `provider: ${d.providerStatus}` : null,
    d.errorCode ? `code ${d.errorCode}` : null,
    d.errorClass ? `[${d.errorClass}]` : null,
  ].filter(Boolean);
  return `${e.type}: ${move} (${e.source})${extra.length ? ` ${extra.join(", ")}` : ""}`;
}

function timeline(m) {
  // Events and provider calls in time order; at equal times a call comes before the status it led to.
  const items = [
    ...m.events.map((e, i) => ({ at: e.at, k: 1, i, kind: e.type, text: eventText(e) })),
    ...m.attempts.map((a, i) => ({
      at: a.finishedAt,
      k: 0,
      i,
      kind: "attempt",
      cls: a.outcome === "accepted" || a.outcome === "reconciled" ? "ok" : "bad",
      text: attemptText(a),
    })),
  ].sort((a, b) => a.at.localeCompare(b.at) || a.k - b.k || a.i - b.i);
  const facts = [
    ["to", m.to],
    ["from", m.from ?? "–"],
    ["priority", m.priority],
    ["segments", `${m.segments} ${m.encoding}`],
    ["attempts", m.attemptCount],
    ["provider id", m.providerMessageId ?? "–"],
    ["created", new Date(m.createdAt).toLocaleString()],
  ];
  if (m.lastError) {
    facts.push([
      "last error",
      `${m.lastError.code ?? ""} ${m.lastError.message ?? ""} [${m.lastError.class ?? ""}]`,
    ]);
  }
  return el(
    "div",
    { class: "message", "data-id": m.id, "data-status": m.status },
    el("p", { class: "message-head" }, el("b", { class: "mono" }, m.id), " ", statusPill(m)),
    el(
      "dl",
      { class: "facts" },
      facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]),
    ),
    el(
      "ol",
      { id: "timeline", class: "timeline" },
      items.map((i) =>
        el(
          "li",
          { class: `t-${i.kind} ${i.cls ?? ""}`, "data-kind": i.kind },
          el("time", {}, time(i.at)),
          el("span", { class: "tag" }, i.kind),
          el("span", {}, i.text),
        ),
      ),
    ),
  );
}

async function show(id, scroll = false) {
  shown = id;
  try {
    const m = await api(`/v1/messages/${encodeURIComponent(id)}`);
    if (shown !== id) return;
    $("detail").replaceChildren(timeline(m));
    if (scroll) $("detail").scrollIntoView({ block: "nearest" });
  } catch (e) {
    if (e instanceof NeedKey) return;
    $("detail").replaceChildren(el("p", { class: "error" }, e.message));
  }
}

async function search(q) {
  $("matches").replaceChildren();
  if (/^msg_/i.test(q)) return show(q);
  shown = null;
  try {
    const page = await api(`/v1/messages?to=${encodeURIComponent(q)}&limit=25`);
    if (page.data.length === 0) {
      $("detail").replaceChildren(el("p", { class: "muted" }, "No messages to that number."));
      return;
    }
    $("matches").replaceChildren(
      el(
        "p",
        { class: "muted small" },
        `${page.data.length}${page.nextCursor ? "+" : ""} message(s) to ${page.data[0].to}, newest first:`,
      ),
      el("table", { class: "matches" }, el("tbody", {}, page.data.map(messageRow))),
    );
    await show(page.data[0].id);
  } catch (err) {
    if (err instanceof NeedKey) return;
    $("detail").replaceChildren(el("p", { class: "error" }, err.message));
  }
}

$("search-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = $("search").value.trim();
  if (q) search(q);
});

$("send-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const m = await api("/v1/messages", {
      method: "POST",
      body: JSON.stringify({
        to: $("send-to").value,
        body: $("send-body").value,
        priority: $("send-priority").value,
      }),
    });
    const link = el("a", { href: `#${m.id}` }, m.id);
    link.addEventListener("click", (ev) => {
      ev.preventDefault();
      show(m.id, true);
    });
    $("send-result").replaceChildren(link, `: ${m.status}`);
    refresh();
  } catch (err) {
    if (!(err instanceof NeedKey)) $("send-result").textContent = err.message;
  }
});

// ---- refresh ---------------------------------------------------------------------------------

$("window").value = store.local.getItem("smsq.window") || "60";
$("window").addEventListener("change", () => {
  store.local.setItem("smsq.window", $("window").value);
  refresh();
});

async function refresh() {
  window.clearTimeout(timer);
  try {
    const r = await fetch("/readyz");
    $("health").textContent = r.ok ? "ready" : "store unavailable";
    $("health").className = `pill ${r.ok ? "ok" : "bad"}`;
  } catch {
    $("health").textContent = "unreachable";
    $("health").className = "pill bad";
  }
  try {
    const [stats, recent] = await Promise.all([
      api(`/v1/stats?window=${encodeURIComponent($("window").value)}`),
      api("/v1/messages?limit=15"),
    ]);
    renderStats(stats);
    $("recent").replaceChildren(...recent.data.map(messageRow));
    if (shown) await show(shown);
    $("updated").textContent =
      `updated ${new Date().toLocaleTimeString()} (store ${stats.queryMs} ms)`;
    $("forget-key").hidden = !apiKey;
  } catch (e) {
    if (!(e instanceof NeedKey)) $("updated").textContent = e.message;
  }
  // While the key is missing there is nothing to poll: submitting the form refreshes.
  if (!needKey) timer = window.setTimeout(refresh, REFRESH_MS);
}

let resizing = null;
window.addEventListener("resize", () => {
  window.clearTimeout(resizing);
  resizing = window.setTimeout(() => {
    if (lastStats) seriesChart($("series-chart"), lastStats.series, lastStats.window);
  }, 150);
});

refresh();
