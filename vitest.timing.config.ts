import { defineConfig } from "vitest/config";

// The timing-sensitive files (see vitest.config.ts), one at a time. They measure arrival times at
// a simulator process on a shared 2-core host, where a stall of either process can shift one
// send by tens of milliseconds: a failed measurement is taken again (at most twice), and every
// run prints its figures.
export default defineConfig({
  test: {
    include: ["test/**/*.timing.test.ts"],
    pool: "forks",
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
    fileParallelism: false,
    retry: 2,
    testTimeout: 120_000,
    hookTimeout: 60_000,
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
  },
});
