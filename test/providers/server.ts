// A minimal real HTTP server for the adapter tests: each test sets `handler` to answer the way
// a provider would, and reads what the adapter sent from `seen`. Deliberately tiny; the full
// provider simulator (src/simulator) has its own contract suite.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll } from "vitest";

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

export interface FakeServer {
  handler: Handler;
  readonly seen: Seen[];
  /** TCP connections accepted so far. */
  connections: number;
  /** `http://127.0.0.1:<port>` of the server. */
  base: string;
  /** A URL on a port nothing listens on. */
  closedPort: string;
  server: http.Server;
}

/** Starts a server for the calling test file (registers its own hooks). */
export function useFakeServer(): FakeServer {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      s.seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      s.handler(req, res, body);
    });
  });
  const s: FakeServer = {
    handler: (_q, res) => res.end(),
    seen: [],
    connections: 0,
    base: "",
    closedPort: "",
    server,
  };
  server.on("connection", () => (s.connections += 1));

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    s.base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // A port that was just free: nothing listens there.
    const tmp = http.createServer();
    await new Promise<void>((r) => tmp.listen(0, "127.0.0.1", r));
    s.closedPort = `http://127.0.0.1:${(tmp.address() as AddressInfo).port}`;
    await new Promise((r) => tmp.close(r));
  });
  afterEach(async () => {
    s.seen.length = 0;
    server.closeAllConnections();
    // Let the clients' agents see those closes, or the next test would write on a dead
    // pooled socket (that case has a test of its own in http.test.ts).
    await new Promise((r) => setTimeout(r, 10));
  });
  afterAll(() => new Promise((r) => server.close(r)));
  return s;
}

/** Answers with this status and JSON body. */
export const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Handler =>
  (_q, res) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };

/** Never answers. */
export const hang: Handler = () => {};

/** Reads the request, then drops the connection without a response. */
export const destroy: Handler = (req) => req.socket.destroy();
