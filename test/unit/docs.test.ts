// The docs list every error code and every setting: a new one cannot ship undocumented.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SETTINGS } from "../../src/config/settings.js";

const read = (p: string) => readFileSync(new URL(`../../${p}`, import.meta.url), "utf8");

describe("docs", () => {
  it("docs/api.md lists every error code of src/errors.ts", () => {
    const src = read("src/errors.ts");
    const union = src.slice(
      src.indexOf("export type ErrorCode"),
      src.indexOf(";", src.indexOf("export type ErrorCode")),
    );
    const codes = [...union.matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
    expect(codes.length).toBeGreaterThan(10);
    const doc = read("docs/api.md");
    for (const c of codes) expect(doc, c).toContain(`\`${c}\``);
  });

  it("docs/configuration.md lists every setting", () => {
    const doc = read("docs/configuration.md");
    for (const s of Object.values(SETTINGS)) {
      expect(doc, s.env).toContain(`\`${s.env}\``);
      expect(doc, s.key).toContain(`\`${s.key}\``);
    }
  });
});
