import { defineConfig } from "vitest/config";

// Two cores here: two test files at a time. PGlite instances take ~300–700 MB each.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
  },
});
