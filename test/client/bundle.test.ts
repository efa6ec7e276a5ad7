// `smsq/client` as a package user gets it (the build in dist/, `npm run build` first): it
// resolves through package.json's exports, loads no server code or package at all (so a browser
// bundle stays small), and its types compile for a browser app without Node's types.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../../", import.meta.url));
const entry = join(root, "dist/client/index.js");

/** Every module the file imports at run time, transitively (static and dynamic imports). */
function importGraph(file: string, seen = new Map<string, string[]>()): Map<string, string[]> {
  if (seen.has(file)) return seen;
  const src = readFileSync(file, "utf8");
  const specs = [
    ...src.matchAll(/^\s*(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']/gm),
    ...src.matchAll(/^\s*import\s*["']([^"']+)["']/gm),
    ...src.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g),
  ].map((m) => m[1] as string);
  seen.set(file, specs);
  for (const s of specs) {
    if (s.startsWith(".")) importGraph(resolve(dirname(file), s), seen);
  }
  return seen;
}

describe("smsq/client as built", () => {
  beforeAll(() => {
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  });

  it("imports only its own modules: no fastify, pg, PGlite, no Node built-ins", () => {
    const graph = importGraph(entry);
    const files = [...graph.keys()].map((f) => relative(root, f)).sort();
    expect(files).toEqual([
      "dist/client/errors.js",
      "dist/client/index.js",
      "dist/client/transport.js",
    ]);
    const specs = [...graph.values()].flat();
    expect(specs.length).toBeGreaterThan(0);
    expect(specs.filter((s) => !s.startsWith("./"))).toEqual([]);
  });

  it("resolves as `smsq/client` through package.json's exports and runs in plain Node", () => {
    const code = `
      const m = await import("smsq/client");
      const c = new m.SmsqClient({ baseUrl: "http://127.0.0.1:1", fetch: async () => new Response('{"error":{"code":"not_found","message":"no"}}', { status: 404 }) });
      const e = await c.get("msg_x").catch((x) => x);
      console.log(JSON.stringify({ keys: Object.keys(m).sort(), err: [e.name, e.status, e.code] }));`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", code], {
      cwd: root,
      encoding: "utf8",
    });
    expect(JSON.parse(out)).toEqual({
      keys: expect.arrayContaining(["SmsqClient", "SmsqApiError", "SmsqNetworkError"]),
      err: ["SmsqApiError", 404, "not_found"],
    });
  });

  it("type-checks a browser app's use of it (DOM lib, no Node types)", () => {
    // Inside the package, so that `smsq/client` resolves to this package's build (self-reference).
    const dir = mkdtempSync(join(root, ".client-consumer-"));
    try {
      writeFileSync(
        join(dir, "app.ts"),
        `import { SmsqClient, SmsqApiError, isBatchError, type Message } from "smsq/client";
const client = new SmsqClient({ baseUrl: location.origin, apiKey: "k", retry: true });
export async function run(): Promise<string> {
  const m: Message = await client.send({ to: "+14155550100", body: "hi" }, { idempotencyKey: "x" });
  const b = await client.batch([{ to: "+14155550101", body: "b", idempotencyKey: "y" }]);
  for (const item of b.data) if (isBatchError(item)) return item.error.code;
  for await (const x of client.listAll({ status: ["failed", "expired"] })) void x.lastError?.code;
  try { await client.cancel(m.id); } catch (e) { if (e instanceof SmsqApiError) return e.code; }
  // @ts-expect-error: not a priority
  await client.send({ to: "+14155550100", body: "hi", priority: "urgent" });
  return m.status;
}
`,
      );
      writeFileSync(
        join(dir, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            target: "ES2022",
            module: "ESNext",
            moduleResolution: "Bundler",
            lib: ["ES2022", "DOM", "DOM.Iterable"],
            types: [],
            strict: true,
            noEmit: true,
            skipLibCheck: true,
          },
          files: ["app.ts"],
        }),
      );
      const tsc = join(root, "node_modules/typescript/bin/tsc");
      let out = "";
      try {
        execFileSync(process.execPath, [tsc, "-p", dir], { cwd: dir, encoding: "utf8" });
      } catch (e) {
        out = String((e as { stdout?: string }).stdout ?? e);
      }
      expect(out).toBe("");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
