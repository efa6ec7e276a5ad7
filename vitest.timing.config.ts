import { defineConfig } from "vitest/config";

// The timing-sensitive files (see vitest.config.ts), one at a time.
export default defineConfig({
  test: {
    include: ["test/**/*.timing.test.ts"],
    pool: "forks",
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
  },
});
