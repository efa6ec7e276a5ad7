// bench/RESULTS.md and bench/RESULTS.json from a run's sections, and the summary printed at
// the end. A section that threw is shown with its error; a target that was missed says MISS.

const mark = (pass) => (pass === true ? "PASS" : pass === false ? "MISS" : "—");
const cell = (s) =>
  String(s ?? "")
    .replace(/\|/g, "\\|")
    .replace(/\n/g, " ");

export function toMarkdown(r) {
  const m = r.machine;
  const out = [
    "# smsq benchmark results",
    "",
    `Written by \`${r.command}\` on ${m.date}; took ${(r.durationMs / 1000).toFixed(0)} s.`,
    "",
    "## Machine",
    "",
    `| | |`,
    `|---|---|`,
    `| cores | ${m.cores} × ${cell(m.cpuModel)} |`,
    `| RAM | ${m.ramGiB} GiB |`,
    `| load average (1, 5, 15 min) | before ${m.loadBefore.join(", ")}; after ${m.loadAfter.join(", ")} |`,
    `| Node | ${m.node} |`,
    `| PostgreSQL | ${cell(m.postgres)} |`,
    `| Redis | ${cell(m.redis)} |`,
    `| pg-boss / BullMQ | ${m.pgBoss} / ${m.bullmq} |`,
    `| smsq commit | ${m.commit}${m.srcDirty ? ` (+ ${m.srcDirty} uncommitted files in src/ or migrations/)` : ""} |`,
    `| mode | ${r.quick ? "--quick (smaller N: a smoke run, not for comparison)" : "full"} |`,
    "",
    "Figures on a 2-core host shared with other work are noisy (±40 % between runs was seen); compare within one run.",
    "",
    "## Targets",
    "",
    "| target | wanted | measured | result | why |",
    "|---|---|---|---|---|",
  ];
  for (const s of r.sections) {
    for (const t of s.targets ?? []) {
      out.push(
        `| ${cell(t.name)} | ${cell(t.target)} | ${cell(t.measured)} | ${mark(t.pass)} | ${cell(t.why)} |`,
      );
    }
    if (s.error) {
      out.push(
        `| ${cell(s.title)} | — | section failed | MISS | ${cell(s.error.split("\n")[0])} |`,
      );
    }
  }
  for (const s of r.sections) {
    out.push("", `## ${s.title} (\`${s.id}\`)`, "");
    if (s.skipped) {
      out.push(`Skipped: ${s.skipped}`);
      continue;
    }
    out.push(`Took ${(s.durationMs / 1000).toFixed(0)} s.`, "");
    if (s.error) out.push("**Error:**", "", "```", s.error.slice(0, 3000), "```", "");
    if (s.figures?.length) {
      out.push("| figure | value | unit | detail |", "|---|---:|---|---|");
      for (const f of s.figures) {
        out.push(`| ${cell(f.name)} | ${cell(f.value)} | ${cell(f.unit)} | ${cell(f.detail)} |`);
      }
    }
    if (s.notes?.length) {
      out.push("");
      for (const n of s.notes) out.push(`- ${n}`);
    }
  }
  return out.join("\n") + "\n";
}

/** A few lines for the terminal. */
export function summary(r) {
  const lines = [
    `bench: ${(r.durationMs / 1000).toFixed(0)} s, load ${r.machine.loadAfter.join(" ")}`,
  ];
  for (const s of r.sections) {
    const state = s.skipped ? "skipped" : s.error ? "ERROR" : "ok";
    lines.push(`  ${s.id}: ${state}${s.error ? " " + s.error.split("\n")[0] : ""}`);
    for (const t of s.targets ?? []) lines.push(`    ${mark(t.pass)} ${t.name}: ${t.measured}`);
  }
  return lines.join("\n");
}
