/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4), for the metrics
 * tests: it throws on anything a Prometheus server would reject or that the format forbids
 * (bad names, bad escapes, a TYPE after its samples, a family split in two, a duplicate
 * series, a sample that does not belong to its family's type, histogram buckets that are not
 * cumulative or whose +Inf bucket is not the count, a missing final newline).
 */

export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string | null;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

// Values are read as Prometheus reads them (Go's strconv.ParseFloat): NaN and Inf in any case,
// which matters because prom-client writes NaN as "Nan" (e.g. the event-loop lag of a process
// that has not measured any yet).
function parseValue(raw: string, line: number): number {
  if (/^[+]?(inf|infinity)$/i.test(raw)) return Infinity;
  if (/^-(inf|infinity)$/i.test(raw)) return -Infinity;
  if (/^nan$/i.test(raw)) return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw)) {
    throw new Error(`line ${line}: bad value "${raw}"`);
  }
  return Number(raw);
}

/** Reads `{a="x",b="y"}` from `s` at `i` (just after the name); returns labels and the end. */
function parseLabels(s: string, i: number, line: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  if (s[i] !== "{") return [labels, i];
  i += 1;
  for (;;) {
    while (s[i] === " ") i++;
    if (s[i] === "}") return [labels, i + 1];
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(i));
    if (!m) throw new Error(`line ${line}: bad label name at ${i}`);
    const name = m[0];
    if (!LABEL_NAME.test(name) || name.startsWith("__")) {
      throw new Error(`line ${line}: reserved or bad label name "${name}"`);
    }
    if (name in labels) throw new Error(`line ${line}: label "${name}" twice`);
    i += name.length;
    if (s[i] !== "=" || s[i + 1] !== '"') {
      throw new Error(`line ${line}: expected =" after ${name}`);
    }
    i += 2;
    let v = "";
    for (;;) {
      const c = s[i];
      if (c === undefined) throw new Error(`line ${line}: unterminated label value`);
      if (c === '"') break;
      if (c === "\\") {
        const e = s[i + 1];
        if (e === "\\") v += "\\";
        else if (e === '"') v += '"';
        else if (e === "n") v += "\n";
        else throw new Error(`line ${line}: bad escape \\${e ?? ""}`);
        i += 2;
        continue;
      }
      if (c === "\n") throw new Error(`line ${line}: raw newline in a label value`);
      v += c;
      i += 1;
    }
    labels[name] = v;
    i += 1;
    if (s[i] === ",") {
      i += 1;
      continue;
    }
    if (s[i] === "}") return [labels, i + 1];
    throw new Error(`line ${line}: expected , or } after a label`);
  }
}

/** The family a sample name belongs to, given the family names declared so far. */
function familyOf(name: string, types: Map<string, MetricType>): string {
  if (types.has(name)) return name;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const t = types.get(base);
      if (t === "histogram" || (t === "summary" && suffix !== "_bucket")) return base;
    }
  }
  return name;
}

/** Parses the text; throws with the line number on the first violation. */
export function parsePrometheus(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith("\n")) throw new Error("the text must end with \\n");
  const families = new Map<string, Family>();
  const types = new Map<string, MetricType>();
  const closed = new Set<string>();
  const series = new Set<string>();
  let current: string | null = null;
  const lines = text.split("\n");
  lines.pop();
  const enter = (name: string, line: number) => {
    if (current === name) return;
    if (current !== null) closed.add(current);
    if (closed.has(name)) throw new Error(`line ${line}: family ${name} is split in two`);
    current = name;
  };
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) {
      f = { name, type: types.get(name) ?? "untyped", help: null, samples: [] };
      families.set(name, f);
    }
    return f;
  };
  lines.forEach((raw, idx) => {
    const line = idx + 1;
    if (raw.trim() === "") return;
    if (raw.startsWith("#")) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(raw);
      if (!m) return; // a plain comment
      const [, kind, name = "", rest = ""] = m;
      if (!METRIC_NAME.test(name)) throw new Error(`line ${line}: bad metric name "${name}"`);
      enter(name, line);
      const f = family(name);
      if (kind === "TYPE") {
        if (!TYPES.has(rest.trim())) throw new Error(`line ${line}: unknown type "${rest}"`);
        if (types.has(name)) throw new Error(`line ${line}: second TYPE for ${name}`);
        if (f.samples.length > 0) throw new Error(`line ${line}: TYPE after samples of ${name}`);
        types.set(name, rest.trim() as MetricType);
        f.type = rest.trim() as MetricType;
      } else {
        if (f.help !== null) throw new Error(`line ${line}: second HELP for ${name}`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ""))) {
          throw new Error(`line ${line}: bad escape in HELP`);
        }
        f.help = rest.replace(/\\n/g, "\n").replace(/\\\\/g, "\\");
      }
      return;
    }
    const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(raw);
    if (!m) throw new Error(`line ${line}: bad sample "${raw}"`);
    const name = m[0];
    const [labels, end] = parseLabels(raw, name.length, line);
    const rest = raw.slice(end);
    const vm = /^ +(\S+)(?: +(-?\d+))?$/.exec(rest);
    if (!vm) throw new Error(`line ${line}: expected " value [timestamp]" in "${raw}"`);
    const value = parseValue(vm[1] as string, line);
    const fam = familyOf(name, types);
    enter(fam, line);
    const f = family(fam);
    const t = f.type;
    const suffix = name.slice(fam.length);
    const allowed =
      t === "histogram"
        ? ["_bucket", "_sum", "_count"]
        : t === "summary"
          ? ["", "_sum", "_count"]
          : [""];
    if (!allowed.includes(suffix)) throw new Error(`line ${line}: ${name} in a ${t} family`);
    if (t === "histogram" && suffix === "_bucket" && labels.le === undefined) {
      throw new Error(`line ${line}: histogram bucket without le`);
    }
    if (t === "counter" && !(value >= 0)) throw new Error(`line ${line}: negative counter`);
    const key = `${name}{${Object.entries(labels)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(",")}}`;
    if (series.has(key)) throw new Error(`line ${line}: duplicate series ${key}`);
    series.add(key);
    f.samples.push({ name, labels, value });
  });

  // Histograms: per label set, buckets cumulative and +Inf equal to _count.
  for (const f of families.values()) {
    if (f.type !== "histogram") continue;
    const groups = new Map<string, { le: number; v: number }[]>();
    const counts = new Map<string, number>();
    const keyOf = (l: Record<string, string>) =>
      JSON.stringify(
        Object.entries(l)
          .filter(([k]) => k !== "le")
          .sort(),
      );
    for (const s of f.samples) {
      if (s.name.endsWith("_bucket")) {
        const g = groups.get(keyOf(s.labels)) ?? [];
        g.push({ le: parseValue(s.labels.le as string, 0), v: s.value });
        groups.set(keyOf(s.labels), g);
      } else if (s.name.endsWith("_count")) {
        counts.set(keyOf(s.labels), s.value);
      }
    }
    for (const [k, g] of groups) {
      g.sort((a, b) => a.le - b.le);
      for (let i = 1; i < g.length; i++) {
        if ((g[i] as { v: number }).v < (g[i - 1] as { v: number }).v) {
          throw new Error(`${f.name}${k}: buckets are not cumulative`);
        }
      }
      const inf = g[g.length - 1];
      if (!inf || inf.le !== Infinity) throw new Error(`${f.name}${k}: no +Inf bucket`);
      if (counts.get(k) !== inf.v) throw new Error(`${f.name}${k}: +Inf bucket is not _count`);
    }
  }
  return families;
}

/** The value of the one sample of `name` whose labels include `labels`; throws otherwise. */
export function value(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const matches = [...families.values()]
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matches.length !== 1) {
    throw new Error(`${matches.length} samples of ${name} ${JSON.stringify(labels)}`);
  }
  return (matches[0] as Sample).value;
}

/** The sum of every sample of `name` whose labels include `labels`. */
export function total(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number {
  return [...families.values()]
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}
