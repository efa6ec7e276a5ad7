/** The dashboard at `/`: static files bundled with the package (nothing from a CDN). */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";

const DIR = fileURLToPath(new URL("../../../public/", import.meta.url));
const FILES: Record<string, string> = {
  "/": "index.html",
  "/app.js": "app.js",
  "/chart.js": "chart.js",
  "/style.css": "style.css",
};
const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
};

/** Registers the page's routes; files are read once, at start. */
export function pageRoutes(app: FastifyInstance): void {
  for (const [route, file] of Object.entries(FILES)) {
    const content = readFileSync(DIR + file);
    const type = TYPES[file.split(".").pop() as string] ?? "application/octet-stream";
    app.get(route, { schema: { hide: true } }, async (_req, reply) =>
      reply
        .header("content-type", type)
        .header("cache-control", "no-cache")
        .header("x-content-type-options", "nosniff")
        .header(
          "content-security-policy",
          "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'",
        )
        .send(content),
    );
  }
}
