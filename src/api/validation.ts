/**
 * One Ajv for every request schema, set so that nothing is silently changed: no removal of
 * unknown properties (they are refused), no type coercion, no defaults written into input.
 * Its errors become SmsqErrors naming the field.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import type { TSchema, Static } from "@sinclair/typebox";
import { SmsqError, type ErrorCode } from "../errors.js";

export const ajv = new Ajv({
  allErrors: false,
  removeAdditional: false,
  coerceTypes: false,
  useDefaults: false,
  strict: false,
});
ajv.addKeyword("example");

/** JSON pointer "/messages/3/to" → "messages[3].to". */
function fieldName(path: string, prefix: string): string {
  const parts = path.split("/").filter((p) => p.length > 0);
  let out = prefix;
  for (const p of parts) {
    out += /^\d+$/.test(p) ? `[${p}]` : out && !out.endsWith(".") ? `.${p}` : p;
  }
  // An error on the item itself (empty path) names the item, not "messages[2].".
  return out.endsWith(".") ? out.slice(0, -1) : out;
}

/** True when `field` is the input field `name`, at the top or in a batch item. */
const isField = (field: string, name: string) => field === name || field.endsWith(`.${name}`);

/** The SmsqError for the first schema error. `prefix` names the enclosing item ("messages[2]."). */
export function schemaError(err: ErrorObject, prefix = "", where = "body"): SmsqError {
  const base = fieldName(err.instancePath, prefix);
  const join = (child: string) => (base ? `${base}.${child}` : child);
  let code: ErrorCode = "invalid_request";
  let field = base || where;
  let message: string;
  switch (err.keyword) {
    case "additionalProperties": {
      const extra = String((err.params as { additionalProperty: string }).additionalProperty);
      code = "unknown_field";
      field = join(extra);
      message = `unknown field "${field}"`;
      break;
    }
    case "required": {
      const missing = String((err.params as { missingProperty: string }).missingProperty);
      field = join(missing);
      message = `${field} is required`;
      break;
    }
    case "type":
      message = `${field} must be ${(err.params as { type: string }).type}`;
      break;
    case "maxLength":
      if (isField(field, "body")) code = "body_too_long";
      if (isField(field, "to") || isField(field, "from")) code = "invalid_phone";
      message = `${field} must be at most ${(err.params as { limit: number }).limit} characters`;
      break;
    case "minLength":
      message = `${field} must not be empty`;
      break;
    case "maxItems":
      message = `${field} holds at most ${(err.params as { limit: number }).limit} items`;
      break;
    case "minItems":
      message = `${field} must hold at least ${(err.params as { limit: number }).limit} item`;
      break;
    default:
      message = `${field} ${err.message ?? "is invalid"}`;
  }
  // Only the priority field itself: an unknown field such as "xpriority" stays unknown_field.
  if (code !== "unknown_field" && isField(field, "priority")) {
    code = "invalid_priority";
    message = `${field} must be one of high, normal, low`;
  }
  if (field.endsWith("metadata") && err.keyword === "type") code = "invalid_metadata";
  return new SmsqError(code, message, field);
}

const cache = new WeakMap<TSchema, ValidateFunction>();

/** Validates `value` against `schema`, throwing the SmsqError for the first problem. */
export function check<T extends TSchema>(schema: T, value: unknown, prefix = ""): Static<T> {
  let validate = cache.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    cache.set(schema, validate);
  }
  if (!validate(value)) {
    const first = validate.errors?.[0];
    throw first ? schemaError(first, prefix) : new SmsqError("invalid_request", "invalid input");
  }
  return value as Static<T>;
}
