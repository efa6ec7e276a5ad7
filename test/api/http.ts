/**
 * Shared by the API suites: a real server on 127.0.0.1 (port 0) over a test store, and a small
 * fetch wrapper. Everything goes through real HTTP, never app.inject.
 */
import type { FastifyInstance } from "fastify";
import type { AddressInfo } from "node:net";
import { buildServer } from "../../src/api/server.js";
import type { Message, MessageDetail } from "../../src/messages/schemas.js";
import type { Db } from "../../src/store/db.js";
import type { Account } from "../../src/config/accounts.js";
import type { AccountInfo } from "../../src/api/routes/accounts.js";
import { silentLog } from "../helpers/log.js";

/** The two API keys the suites configure; requests use KEY_A unless told otherwise. */
export const KEY_A = "test-key-a";
export const KEY_B = "test-key-b";

export interface ApiError {
  error: { code: string; message: string; field?: string };
}

export interface Api {
  base: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

export interface ServerOptions {
  apiKeys?: string[];
  maxRequestBytes?: number;
  now?: () => Date;
  accounts?: readonly Account[];
  publicUrl?: string | null;
  accountInfo?: readonly AccountInfo[];
  backpressure?: { maxQueued: number | null; maxQueuedPerKey: number | null; cacheMs?: number };
  deadlines?: { account: string; cacheMs?: number };
}

/** Builds the server over `db` and makes it listen on an ephemeral loopback port. */
export async function startServer(db: Db, opts: ServerOptions = {}): Promise<Api> {
  const app = await buildServer({
    db,
    log: silentLog,
    apiKeys: opts.apiKeys ?? [KEY_A, KEY_B],
    settings: { defaultRegion: "US", maxSegments: 10 },
    maxRequestBytes: opts.maxRequestBytes ?? 1024 * 1024,
    version: "test",
    now: opts.now,
    accounts: opts.accounts,
    publicUrl: opts.publicUrl,
    accountInfo: opts.accountInfo,
    backpressure: opts.backpressure,
    deadlines: opts.deadlines,
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, app, close: () => app.close() };
}

export interface CallOptions {
  /** A value sent as JSON (application/json). */
  json?: unknown;
  /** A raw body, sent as is (content type application/json unless `headers` say otherwise). */
  raw?: string;
  headers?: Record<string, string>;
  /** The API key to send; null sends no Authorization header. */
  key?: string | null;
}

export interface Res<T> {
  status: number;
  headers: Headers;
  text: string;
  json: T;
}

/** One HTTP request; the body is parsed as JSON when it is JSON. */
export async function call<T = unknown>(
  api: Api,
  method: string,
  path: string,
  opts: CallOptions = {},
): Promise<Res<T>> {
  const headers: Record<string, string> = {};
  const key = opts.key === undefined ? KEY_A : opts.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  let body: string | undefined;
  if (opts.json !== undefined) body = JSON.stringify(opts.json);
  if (opts.raw !== undefined) body = opts.raw;
  if (body !== undefined) headers["content-type"] = "application/json";
  Object.assign(headers, opts.headers ?? {});
  const r = await fetch(api.base + path, { method, headers, body });
  const text = await r.text();
  let json: unknown = undefined;
  if ((r.headers.get("content-type") ?? "").includes("application/json")) json = JSON.parse(text);
  return { status: r.status, headers: r.headers, text, json: json as T };
}

/** POST /v1/messages. */
export const submit = (api: Api, input: unknown, opts: Omit<CallOptions, "json"> = {}) =>
  call<Message & ApiError>(api, "POST", "/v1/messages", { ...opts, json: input });

/** GET /v1/messages/:id. */
export const getOne = (api: Api, id: string) =>
  call<MessageDetail & ApiError>(api, "GET", `/v1/messages/${id}`);

/** A valid US number, distinct per i. */
export function phone(i: number): string {
  return `+1415${String(5550100 + i).padStart(7, "0")}`;
}

/** An ISO time `ms` from now. */
export const fromNow = (ms: number) => new Date(Date.now() + ms).toISOString();

export const HOUR = 3600_000;
export const DAY = 24 * HOUR;

/** Asserts the shape every error answer has, and returns its error. */
export function errorOf(res: Res<unknown>): ApiError["error"] {
  const body = res.json as ApiError;
  if (
    typeof body !== "object" ||
    body === null ||
    Object.keys(body).join() !== "error" ||
    typeof body.error.code !== "string" ||
    typeof body.error.message !== "string" ||
    body.error.message.length === 0
  ) {
    throw new Error(`not an error body (HTTP ${res.status}): ${res.text.slice(0, 300)}`);
  }
  return body.error;
}
