// Fails when src/ has an import cycle. Reads relative imports (`from "./x.js"`) of every .ts
// file and runs a depth-first search; type-only imports count too, to keep layers honest.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve("src");
const files = [];
const walk = (d) => {
  for (const f of readdirSync(d)) {
    const p = join(d, f);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith(".ts")) files.push(p);
  }
};
walk(root);

const graph = new Map();
for (const f of files) {
  const src = readFileSync(f, "utf8");
  const deps = [...src.matchAll(/from\s+"(\.{1,2}\/[^"]+)"/g)].map((m) =>
    resolve(dirname(f), m[1]).replace(/\.js$/, ".ts"),
  );
  graph.set(
    f,
    deps.filter((d) => graph.has(d) || files.includes(d)),
  );
}

const state = new Map();
const cycles = [];
const visit = (f, stack) => {
  state.set(f, "visiting");
  for (const d of graph.get(f) ?? []) {
    if (state.get(d) === "visiting") cycles.push([...stack.slice(stack.indexOf(d)), d]);
    else if (!state.has(d)) visit(d, [...stack, d]);
  }
  state.set(f, "done");
};
for (const f of files) if (!state.has(f)) visit(f, [f]);

if (cycles.length > 0) {
  for (const c of cycles) {
    console.error("import cycle: " + c.map((p) => relative(root, p)).join(" → "));
  }
  process.exit(1);
}
console.log(`no import cycles in ${files.length} files`);
