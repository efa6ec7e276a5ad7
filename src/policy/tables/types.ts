/**
 * The six error classes and the shape of a classification table row. They live apart from
 * classify.ts so the tables can name a class without importing the classifier (no cycles).
 */

/** Every class a failed attempt or negative receipt can have; docs/errors.md says what each does. */
export const ERROR_CLASSES = [
  "rate_limited",
  "transient",
  "ambiguous",
  "recipient_permanent",
  "content_permanent",
  "account",
] as const;

export type ErrorClass = (typeof ERROR_CLASSES)[number];

/** A failed provider call (`send`) or a negative delivery receipt (`receipt`). */
export type Stage = "send" | "receipt";

/** One row of a classification table: what one code means, and where that fact comes from. */
export interface CodeRow {
  /** The provider's code, an HTTP status (`"503"`, or `"5xx"` for a range) or a network code. */
  readonly code: string;
  readonly class: ErrorClass;
  /** The recipient opted out: add them to the suppression list. */
  readonly optOut?: boolean;
  /** The stages the row applies at; every stage when absent. */
  readonly stages?: readonly Stage[];
  /** What the code means and why this class, in a line (rendered in docs/errors.md). */
  readonly note: string;
  /** Fact-sheet key(s) (`/work/shared/reference/providers.md` §0), e.g. `E-21211`. */
  readonly source: string;
}
