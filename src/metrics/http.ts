/**
 * A small HTTP server of its own for GET /metrics (SMSQ_METRICS_PORT): `smsq worker` runs no
 * API, so Prometheus scrapes it here. Same key rule as the API's /metrics.
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ApiKeys } from "../api/auth.js";
import { SmsqError } from "../errors.js";
import type { Logger } from "../log.js";
import type { MetricsEndpoint } from "../api/routes/metrics.js";

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** Listens on `port` (0: any free one) and serves GET /metrics and GET /healthz. */
export async function serveMetrics(
  metrics: MetricsEndpoint,
  o: { port: number; host: string; apiKeys: readonly string[]; log: Logger },
): Promise<MetricsServer> {
  const keys = new ApiKeys(o.apiKeys);
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      return json(res, 405, { error: { code: "method_not_allowed", message: "GET only" } });
    }
    if (path === "/healthz") return json(res, 200, { status: "ok" });
    if (path !== "/metrics") {
      return json(res, 404, { error: { code: "not_found", message: `no route ${path}` } });
    }
    try {
      if (!metrics.public) keys.authenticate(req.headers.authorization);
    } catch (e) {
      const err = e as SmsqError;
      return json(res, err.status, err.toBody());
    }
    metrics.render().then(
      (text) => {
        res.writeHead(200, { "content-type": metrics.contentType });
        res.end(req.method === "HEAD" ? undefined : text);
      },
      (e: unknown) => {
        o.log.error({ err: e }, "rendering metrics failed");
        json(res, 500, { error: { code: "internal", message: "metrics unavailable" } });
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
  return {
    url: `http://${host}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
