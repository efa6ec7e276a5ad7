// smsq web page: recent messages, search with the message's timeline, and a send form.
// Plain browser JavaScript, no build step and nothing fetched from outside this server.
const $ = (id) => document.getElementById(id);
let apiKey = localStorage.getItem("smsq.apiKey") || "";

async function api(path, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  if (init.body) headers["content-type"] = "application/json";
  const res = await fetch(path, { ...init, headers });
  if (res.status === 401) {
    $("key-form").hidden = false;
    throw new Error("an API key is needed");
  }
  const data = await res.json();
  if (!res.ok) {
    throw new Error(data.error ? `${data.error.code}: ${data.error.message}` : res.statusText);
  }
  return data;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) {
    e.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  }
  return e;
}

const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "");

function row(m) {
  const err = m.lastError ? `${m.lastError.code ?? ""} ${m.lastError.message ?? ""}` : "";
  const link = el("a", { href: "#" }, m.id);
  link.addEventListener("click", (e) => {
    e.preventDefault();
    show(m.id);
  });
  return el(
    "tr",
    {},
    el("td", {}, time(m.createdAt)),
    el("td", { class: "mono" }, link),
    el("td", { class: "mono" }, m.to),
    el("td", { class: `status-${m.status}` }, m.status + (m.retrying ? " (retrying)" : "")),
    el("td", {}, m.priority),
    el("td", {}, `${m.segments} ${m.encoding}`),
    el("td", {}, m.attemptCount),
    el("td", { class: "error" }, err),
  );
}

async function refresh() {
  try {
    await fetch("/readyz").then((r) => {
      $("health").textContent = r.ok ? "ready" : "store unavailable";
      $("health").className = `pill ${r.ok ? "ok" : "bad"}`;
    });
    const page = await api("/v1/messages?limit=25");
    $("recent").replaceChildren(...page.data.map(row));
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $("updated").textContent = e.message;
  }
}

async function show(id) {
  try {
    const m = await api(`/v1/messages/${encodeURIComponent(id)}`);
    const items = [
      ...m.events.map((e) => ({
        at: e.at,
        text: `${e.type}: ${e.fromStatus ?? ""} → ${e.toStatus ?? ""} (${e.source})`,
      })),
      ...m.attempts.map((a) => ({
        at: a.finishedAt,
        text: `attempt ${a.attempt} via ${a.provider}/${a.account}: ${a.outcome}${a.errorCode ? ` ${a.errorCode} [${a.errorClass}]` : ""}${a.latencyMs != null ? ` in ${a.latencyMs} ms` : ""}`,
      })),
    ].sort((a, b) => a.at.localeCompare(b.at));
    $("detail").replaceChildren(
      el(
        "p",
        {},
        el("b", {}, m.id),
        ` to ${m.to}: `,
        el("span", { class: `status-${m.status}` }, m.status),
      ),
      el("ul", { id: "timeline" }, ...items.map((i) => el("li", {}, `${time(i.at)} ${i.text}`))),
    );
  } catch (e) {
    $("detail").replaceChildren(el("p", { class: "error" }, e.message));
  }
}

$("search-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const q = $("search").value.trim();
  if (!q) return;
  if (q.startsWith("msg_")) return show(q);
  try {
    const page = await api(`/v1/messages?to=${encodeURIComponent(q)}&limit=25`);
    const table = el("table", {}, el("tbody", {}, ...page.data.map(row)));
    $("detail").replaceChildren(
      page.data.length ? table : el("p", {}, "No messages to that number."),
    );
  } catch (err) {
    $("detail").replaceChildren(el("p", { class: "error" }, err.message));
  }
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
    $("send-result").textContent = `${m.id}: ${m.status}`;
    refresh();
  } catch (err) {
    $("send-result").textContent = err.message;
  }
});

$("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  apiKey = $("key").value.trim();
  localStorage.setItem("smsq.apiKey", apiKey);
  $("key-form").hidden = true;
  refresh();
});

refresh();
setInterval(refresh, 3000);
