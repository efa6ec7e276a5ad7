/** smsq as a library: start it in process, or use its parts. */
export { start, type Running, type StartOptions } from "./app.js";
export { loadConfig, ConfigError, type Config } from "./config/index.js";
export { SmsqError, isSmsqError, type ErrorCode } from "./errors.js";
export { countSegments, type SegmentInfo, type Encoding } from "./messages/segments.js";
export { STATUSES, canTransition, type MessageStatus } from "./messages/lifecycle.js";
export type {
  Message,
  MessageDetail,
  MessageInput,
  Attempt,
  MessageEvent,
} from "./messages/schemas.js";
export type { Provider, SendResult, OutboundMessage } from "./providers/types.js";
