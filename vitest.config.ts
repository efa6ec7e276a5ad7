import { defineConfig } from "vitest/config";

// Two cores here: two test files at a time. PGlite instances take ~300–700 MB each.
// Files named *.timing.test.ts measure timing at the provider simulator (rate-limit precision):
// they run afterwards, one at a time, with vitest.timing.config.ts, so no other file competes
// with them for the two cores.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "test/**/*.timing.test.ts"],
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
  },
});
