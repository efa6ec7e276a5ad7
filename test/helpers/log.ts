import { createLogger } from "../../src/log.js";

/** A logger that prints nothing (set SMSQ_TEST_LOG=debug to see logs). */
export const silentLog = createLogger(process.env.SMSQ_TEST_LOG ?? "silent");
