/**
 * Structured JSON logs (pino). Message bodies and secrets are never passed to the logger; the
 * redact list is a second line of defence for fields that might carry them.
 */
import { pino, type Logger } from "pino";

export type { Logger };

/** Creates the process logger at the given level ("silent" in tests). */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    redact: {
      paths: [
        "body",
        "*.body",
        "authorization",
        "*.authorization",
        "req.headers.authorization",
        "apiKey",
        "*.apiKey",
        "apiKeys",
        "databaseUrl",
        "*.databaseUrl",
      ],
      censor: "[redacted]",
    },
  });
}
