/** A small HTTP helper for the CLI commands that talk to a running smsq (send, status). */
export interface Target {
  url: string;
  apiKey: string | null;
}

/** Where the CLI finds the server: --url, SMSQ_URL, or the local default port. */
export function target(opts: { url?: string; apiKey?: string }, env = process.env): Target {
  const url = opts.url ?? env.SMSQ_URL ?? `http://127.0.0.1:${env.SMSQ_PORT || "8080"}`;
  const apiKey =
    opts.apiKey ?? env.SMSQ_API_KEY ?? env.SMSQ_API_KEYS?.split(",")[0]?.trim() ?? null;
  return { url: url.replace(/\/+$/, ""), apiKey: apiKey || null };
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    const e = (body as { error?: { code?: string; message?: string; field?: string } }).error;
    super(
      e
        ? `${status} ${e.code}: ${e.message}${e.field ? ` (field ${e.field})` : ""}`
        : `HTTP ${status}`,
    );
  }
}

/** Calls the API and returns the parsed JSON, or throws HttpError. */
export async function call(
  t: Target,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; data: unknown }> {
  const h: Record<string, string> = { ...headers };
  if (t.apiKey) h.authorization = `Bearer ${t.apiKey}`;
  if (body !== undefined) h["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(t.url + path, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new Error(
      `cannot reach smsq at ${t.url} (${(e as Error).cause ?? (e as Error).message}); is it running?`,
    );
  }
  const text = await res.text();
  let data: unknown = text;
  try {
    data = JSON.parse(text);
  } catch {
    // not JSON; keep the text
  }
  if (!res.ok) throw new HttpError(res.status, data);
  return { status: res.status, data };
}
