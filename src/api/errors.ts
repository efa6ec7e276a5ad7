/** Turns anything thrown in a request into the API's error body: never a bare 500 for bad input. */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { isSmsqError, SmsqError } from "../errors.js";
import type { Logger } from "../log.js";
import { toStoreError } from "../store/db.js";
import { schemaError } from "./validation.js";

const FASTIFY_CODES: Record<string, SmsqError["code"]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: "invalid_json",
  FST_ERR_CTP_EMPTY_JSON_BODY: "invalid_json",
  FST_ERR_CTP_BODY_TOO_LARGE: "payload_too_large",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "unsupported_media_type",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "invalid_request",
};

function toSmsqError(e: FastifyError): SmsqError | null {
  const err = toStoreError(e);
  if (isSmsqError(err)) return err;
  if (e.validation && e.validation[0]) {
    return schemaError(e.validation[0] as never, "", e.validationContext ?? "body");
  }
  const mapped = e.code ? FASTIFY_CODES[e.code] : undefined;
  if (mapped === "invalid_json") {
    return new SmsqError("invalid_json", "the request body is not valid JSON", "body");
  }
  if (mapped === "payload_too_large") {
    return new SmsqError("payload_too_large", "the request body is too large", "body");
  }
  if (mapped === "unsupported_media_type") {
    return new SmsqError(
      "unsupported_media_type",
      "send the request body as application/json",
      "Content-Type",
    );
  }
  if (mapped) return new SmsqError(mapped, e.message);
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    return new SmsqError("invalid_request", e.message);
  }
  return null;
}

/** The Fastify error handler. */
export function errorHandler(log: Logger) {
  return (e: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const err = toSmsqError(e);
    if (err) {
      if (err.code === "queue_full") void reply.header("retry-after", "5");
      if (err.code === "store_unavailable") {
        log.warn({ url: req.url }, "store unavailable; answered 503");
        void reply.header("retry-after", "5");
      }
      return reply.status(err.status).send(err.toBody());
    }
    log.error({ err: e, url: req.url, method: req.method }, "unhandled error");
    return reply
      .status(500)
      .send(new SmsqError("internal", "internal error; it has been logged").toBody());
  };
}
