// Rewrites the settings table in docs/configuration.md from src/config/settings.ts (built to
// dist/), so the docs list exactly what the code reads. Run after `npm run build`.
import { readFileSync, writeFileSync } from "node:fs";
import { SETTINGS } from "../dist/config/settings.js";

const file = "docs/configuration.md";
const doc = readFileSync(file, "utf8");
const start = doc.indexOf("| variable");
const end = doc.indexOf("\nProvider accounts can also be listed");
if (start < 0 || end < 0) throw new Error(`${file}: table markers not found`);
let table = "| variable | file key | default | meaning |\n|---|---|---|---|\n";
for (const s of Object.values(SETTINGS)) {
  const d = s.default === null || Array.isArray(s.default) ? "—" : `\`${s.default}\``;
  table += `| \`${s.env}\` | \`${s.key}\` | ${d} | ${s.doc} |\n`;
}
writeFileSync(file, doc.slice(0, start) + table + doc.slice(end));
console.log(`${file}: ${Object.keys(SETTINGS).length} settings`);
