// Small SVG charts for the dashboard, drawn with the DOM (no library, nothing inline that the
// page's Content-Security-Policy would refuse: colours come from CSS classes).
const NS = "http://www.w3.org/2000/svg";

/** An SVG element with attributes and children. */
export function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** A round upper bound for an axis: 1, 2, 5 × 10^n. */
export function niceMax(v) {
  if (v <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export const fmt = (n) => Number(n).toLocaleString("en-US");

const hhmm = (iso) => {
  const d = new Date(iso);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
};

/**
 * The series chart: per bucket, a bar of calls (sent, with failed stacked on top) and lines of
 * messages delivered and undelivered. `series` is GET /v1/stats's `series`.
 */
export function seriesChart(container, series, { bucketSeconds }) {
  const width = Math.max(320, container.clientWidth || 640);
  const height = 220;
  const pad = { l: 40, r: 10, t: 10, b: 24 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const n = series.length;
  const top = niceMax(
    Math.max(0, ...series.map((p) => Math.max(p.sent + p.failed, p.delivered, p.undelivered))),
  );
  const x = (i) => pad.l + (i * w) / n;
  const y = (v) => pad.t + h - (v / top) * h;
  const bw = Math.max(1, w / n - 1);

  const grid = [0, 0.25, 0.5, 0.75, 1].map((f) =>
    svg(
      "g",
      {},
      svg("line", { class: "grid", x1: pad.l, x2: width - pad.r, y1: y(top * f), y2: y(top * f) }),
      svg(
        "text",
        { class: "axis", x: pad.l - 6, y: y(top * f) + 4, "text-anchor": "end" },
        fmt(Math.round(top * f)),
      ),
    ),
  );
  const labels = [];
  for (let i = 0; i < n; i += n >= 60 ? 10 : 1) {
    const p = series[i];
    labels.push(
      svg("text", { class: "axis", x: x(i), y: height - 6 }, bucketSeconds >= 60 ? hhmm(p.at) : ""),
    );
  }
  const bars = series.flatMap((p, i) => {
    const out = [];
    if (p.sent > 0) {
      out.push(
        svg(
          "rect",
          { class: "bar-sent", x: x(i), y: y(p.sent), width: bw, height: y(0) - y(p.sent) },
          svg("title", {}, `${hhmm(p.at)}: ${p.sent} sent`),
        ),
      );
    }
    if (p.failed > 0) {
      out.push(
        svg(
          "rect",
          {
            class: "bar-failed",
            x: x(i),
            y: y(p.sent + p.failed),
            width: bw,
            height: y(p.sent) - y(p.sent + p.failed),
          },
          svg("title", {}, `${hhmm(p.at)}: ${p.failed} failed calls`),
        ),
      );
    }
    return out;
  });
  const line = (key, cls) => {
    const points = series.map((p, i) => `${(x(i) + bw / 2).toFixed(1)},${y(p[key]).toFixed(1)}`);
    return svg("polyline", { class: cls, points: points.join(" ") });
  };
  const sum = (k) => series.reduce((s, p) => s + p[k], 0);
  const total = sum("sent") + sum("failed") + sum("delivered") + sum("undelivered");
  const chart = svg(
    "svg",
    {
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": "Calls and deliveries per bucket",
      "data-total": total,
      "data-sent": sum("sent"),
      "data-failed": sum("failed"),
      "data-delivered": sum("delivered"),
    },
    ...grid,
    ...labels,
    ...bars,
    line("delivered", "line-delivered"),
    line("undelivered", "line-undelivered"),
  );
  container.replaceChildren(chart);
  return chart;
}

/** A horizontal bar split in parts: [{label, value, cls}]; empty parts are left out. */
export function stackedBar(parts, { width = 300, height = 18 } = {}) {
  const total = parts.reduce((s, p) => s + p.value, 0);
  let at = 0;
  const rects = [];
  for (const p of parts) {
    if (p.value <= 0) continue;
    const pw = (p.value / total) * width;
    rects.push(
      svg(
        "rect",
        { class: p.cls, x: at, y: 0, width: Math.max(1, pw), height },
        svg("title", {}, `${p.label}: ${fmt(p.value)}`),
      ),
    );
    at += pw;
  }
  if (total === 0) rects.push(svg("rect", { class: "empty", x: 0, y: 0, width, height }));
  return svg(
    "svg",
    {
      class: "stacked",
      width: "100%",
      height,
      viewBox: `0 0 ${width} ${height}`,
      preserveAspectRatio: "none",
      "data-total": total,
    },
    ...rects,
  );
}

/** One bar of a ranking, its length ∝ value / max. */
export function meter(value, max, cls = "bar-sent") {
  const width = 200;
  const w = max > 0 ? Math.max(value > 0 ? 2 : 0, (value / max) * width) : 0;
  return svg(
    "svg",
    {
      class: "meter",
      width: "100%",
      height: 12,
      viewBox: `0 0 ${width} 12`,
      preserveAspectRatio: "none",
    },
    svg("rect", { class: "empty", x: 0, y: 0, width, height: 12 }),
    svg("rect", { class: cls, x: 0, y: 0, width: w, height: 12 }),
  );
}
