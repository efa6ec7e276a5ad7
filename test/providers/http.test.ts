// The providers' HTTP client against a real local server: whole bounded responses, and which
// failures happen before the request could reach the server (connect) and which after (sent).
import { describe, expect, it } from "vitest";
import {
  createAgent,
  parseRetryAfter,
  ProviderHttpError,
  request,
  scrub,
} from "../../src/providers/http.js";
import { useFakeServer } from "./server.js";

const srv = useFakeServer();

describe("request", () => {
  it("refuses a response larger than 1 MiB as ambiguous", async () => {
    srv.handler = (_q, res) => {
      res.writeHead(200);
      res.end(Buffer.alloc(1024 * 1024 + 10, 97));
    };
    const e = await request({
      url: `${srv.base}/big`,
      method: "GET",
      headers: {},
      connectTimeoutMs: 500,
      timeoutMs: 2000,
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProviderHttpError);
    expect(e).toMatchObject({ phase: "sent", code: "ERESPONSETOOLARGE" });
  });

  it("a reset on a reused keep-alive socket is phase sent, flagged reusedSocket", async () => {
    // The server closes an idle pooled connection just as we reuse it: it never saw the
    // request, but from here that is indistinguishable from a crash after reading it.
    srv.handler = (_q, res) => res.end("ok");
    const agent = createAgent("http:");
    const go = () =>
      request({
        url: srv.base,
        method: "POST",
        headers: {},
        body: "x",
        connectTimeoutMs: 500,
        timeoutMs: 2000,
        agent,
      });
    expect((await go()).status).toBe(200);
    srv.server.closeAllConnections();
    const e = await go().catch((x: unknown) => x);
    expect(e).toMatchObject({ phase: "sent", code: "ECONNRESET", reusedSocket: true });
    agent.destroy();
  });

  it("reads a whole response with its headers", async () => {
    srv.handler = (_q, res) => {
      res.writeHead(202, { "x-a": "1" });
      res.write("hel");
      setTimeout(() => res.end("lo"), 20);
    };
    const r = await request({
      url: `${srv.base}/x`,
      method: "PUT",
      headers: { "x-b": "2" },
      body: "é",
      connectTimeoutMs: 500,
      timeoutMs: 2000,
    });
    expect(r).toMatchObject({ status: 202, body: "hello" });
    expect(r.headers["x-a"]).toBe("1");
    expect(srv.seen[0]).toMatchObject({ method: "PUT", body: "é" });
    expect(srv.seen[0]!.headers["content-length"]).toBe("2");
  });
});

describe("request phases", () => {
  const call = (url: string, over: Partial<Parameters<typeof request>[0]> = {}) =>
    request({
      url,
      method: "POST",
      headers: {},
      body: "x",
      connectTimeoutMs: 200,
      timeoutMs: 200,
      ...over,
    }).catch((e: unknown) => e);

  it("refused connection → connect", async () => {
    expect(await call(srv.closedPort)).toMatchObject({ phase: "connect", code: "ECONNREFUSED" });
  });

  it("DNS failure → connect", async () => {
    const e = await call("http://no-such-host.invalid/", { connectTimeoutMs: 5000 });
    expect(e).toMatchObject({ phase: "connect" });
    expect(["ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT"]).toContain((e as ProviderHttpError).code);
  });

  it("no answer → sent, timeout; socket destroyed → sent, ECONNRESET", async () => {
    srv.handler = () => {};
    expect(await call(srv.base)).toMatchObject({ phase: "sent", code: "timeout" });
    srv.handler = (req) => req.socket.destroy();
    expect(await call(srv.base)).toMatchObject({ phase: "sent", code: "ECONNRESET" });
  });

  it("gives up on a sent request with a reset, not a FIN", async () => {
    // A FIN would leave the request deliverable: a server that accepts the connection late
    // (full accept queue) would still read and act on it after smsq's settle time.
    const closed = new Promise<string>((resolve) => {
      srv.handler = (req) => {
        req.socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
        req.socket.once("end", () => resolve("end"));
      };
    });
    expect(await call(srv.base)).toMatchObject({ phase: "sent", code: "timeout" });
    expect(await closed).toBe("ECONNRESET");
  });

  it("a response cut short → sent, ECONNRESET", async () => {
    srv.handler = (req, res) => {
      res.writeHead(200, { "content-length": "100" });
      res.write("partial");
      setTimeout(() => req.socket.destroy(), 10);
    };
    expect(await call(srv.base)).toMatchObject({ phase: "sent", code: "ECONNRESET" });
  });

  it("an already aborted signal sends nothing", async () => {
    const ac = new AbortController();
    ac.abort();
    expect(await call(srv.base, { signal: ac.signal })).toMatchObject({
      phase: "connect",
      code: "aborted",
    });
    expect(srv.seen).toHaveLength(0);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  it.each([
    ["0", 0],
    ["7", 7000],
    [" 120 ", 120_000],
    ["Thu, 01 Jan 2026 00:00:30 GMT", 30_000],
    ["Wed, 31 Dec 2025 23:59:00 GMT", 0],
    ["soon", undefined],
    ["-5", undefined],
    ["", undefined],
    [undefined, undefined],
  ])("Retry-After %s → %s ms", (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});

describe("scrub", () => {
  it("redacts every secret and caps the length", () => {
    expect(scrub("token abcd1234 twice abcd1234", ["abcd1234", null, "ab"])).toBe(
      "token [redacted] twice [redacted]",
    );
    expect(scrub("x".repeat(600), []).length).toBe(501);
  });
});
