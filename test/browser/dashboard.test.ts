// The dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
// it asks for the API key, shows charts once messages flow (delivered, refused by the provider,
// undelivered by the carrier), and a search by id and by phone number shows the message's
// timeline. smsq runs in process with its worker, sending through the real Twilio adapter to the
// provider simulator, whose rules make some numbers fail (the sandbox provider never fails).
// A screenshot goes to test/browser/artifacts/dashboard.png (git-ignored; CI keeps the file).
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, type Running } from "../../src/app.js";
import { loadConfig } from "../../src/config/index.js";
import { startSimulator, type Simulator } from "../../src/simulator/index.js";
import { silentLog } from "../helpers/log.js";
import { freePort } from "../helpers/ports.js";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));
const HAVE_CHROMIUM = existsSync(CHROMIUM);
// Locally a missing Chromium skips this file; in CI (CI set) it must run, so it fails instead.
const SKIP = !HAVE_CHROMIUM && !process.env.CI;
if (SKIP) {
  console.warn(
    `test/browser: skipped, ${CHROMIUM} is missing (apt-get install -y chromium); CI installs it and runs these tests`,
  );
}

/** What the page functions below use of the browser's document. */
interface MiniDocument {
  querySelector(
    sel: string,
  ): { textContent: string | null; dataset: Record<string, string> } | null;
}

const SID = "AC" + "2".repeat(32);
const TOKEN = "twilio-auth-token-for-browser-tests";
const API_KEY = "dashboard-test-key-0123456789";
// The simulator refuses +1415555019x at create (21211, invalid To) and reports +1415555018x
// undelivered (30003, handset unreachable); every other number is delivered.
const REFUSED = (i: number) => `+1415555019${i}`;
const UNREACHABLE = (i: number) => `+1415555018${i}`;
const GOOD = (i: number) => `+14155550${String(100 + i).padStart(3, "0")}`;

describe.skipIf(SKIP)("dashboard in Chromium", () => {
  let sim: Simulator;
  let running: Running;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    sim = await startSimulator({
      port: 0,
      twilio: { accounts: [{ sid: SID, authToken: TOKEN }] },
      behaviour: {
        callbackDelayMs: 5,
        rules: [
          { toPattern: "^\\+1415555019\\d$", at: "create", code: 21211, status: 400 },
          { toPattern: "^\\+1415555018\\d$", at: "delivery", code: 30003 },
        ],
      },
    });
    const port = await freePort();
    running = await start(
      loadConfig({
        SMSQ_PORT: String(port),
        SMSQ_HOST: "127.0.0.1",
        SMSQ_API_KEYS: API_KEY,
        SMSQ_PUBLIC_URL: `http://127.0.0.1:${port}`,
        TWILIO_ACCOUNT_SID: SID,
        TWILIO_AUTH_TOKEN: TOKEN,
        TWILIO_FROM: "+14155550000",
        TWILIO_BASE_URL: sim.url,
        SMSQ_POLL_INTERVAL_MS: "20",
      }),
      { api: true, worker: true, log: silentLog, memory: true },
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // As the machine's own probe starts it: no sandbox as root, and nothing that phones home
      // (the closed network refuses those connections).
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    // A fresh context: an empty profile, no stored key.
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    page = await context.newPage();
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      // The 401 that makes it ask for the key is expected; anything else (a CSP refusal, an
      // exception) is a problem.
      if (m.type() === "error" && !/Failed to load resource/.test(m.text())) {
        problems.push(`console: ${m.text()}`);
      }
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await running?.stop();
    await sim?.close();
  });

  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${running.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify(body),
    });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    return res.json() as Promise<{ data: { id: string; to: string }[] }>;
  };

  it("asks for the API key, then charts the messages that flow", { timeout: 120_000 }, async () => {
    await page.goto(running.url as string);
    await page.locator("#key-panel").waitFor({ state: "visible" });
    expect(await page.locator("#dashboard").getAttribute("class")).toContain("locked");

    await page.locator("#key").fill(API_KEY);
    await page.locator("#key-form button").click();
    await page.locator("#key-panel").waitFor({ state: "hidden" });
    await page.locator("#series-chart svg").waitFor();

    const good = Array.from({ length: 12 }, (_, i) => ({
      to: GOOD(i),
      body: `Reminder ${i}: your appointment is tomorrow at 9:00`,
      priority: (["high", "normal", "low"] as const)[i % 3],
    }));
    const bad = [0, 1].flatMap((i) => [
      { to: REFUSED(i), body: "refused by the provider" },
      { to: UNREACHABLE(i), body: "the handset is off" },
    ]);
    await post("/v1/messages/batch", { messages: [...good, ...bad] });

    // The page refreshes itself: wait for the charts to hold every outcome.
    await page.waitForFunction(
      () => {
        // Runs in the page (this project's type-check has no DOM library, hence the cast).
        const doc = (globalThis as unknown as { document: MiniDocument }).document;
        const svg = doc.querySelector("#series-chart svg");
        const n = (sel: string) =>
          Number(doc.querySelector(`${sel} b`)?.textContent?.replace(/,/g, "") ?? -1);
        return (
          svg !== null &&
          Number(svg.dataset.sent) === 14 &&
          Number(svg.dataset.failed) === 2 &&
          Number(svg.dataset.delivered) === 12 &&
          n('[data-outcome="delivered"]') === 12 &&
          n('[data-outcome="undelivered"]') === 2 &&
          n('[data-outcome="failed"]') === 2
        );
      },
      undefined,
      { timeout: 60_000, polling: 250 },
    );
    // Calls drawn as bars, deliveries as a line.
    expect(await page.locator("#series-chart rect.bar-sent").count()).toBeGreaterThan(0);
    expect(await page.locator("#series-chart rect.bar-failed").count()).toBeGreaterThan(0);
    expect(await page.locator("#series-chart polyline.line-delivered").count()).toBe(1);
    // Top error codes: the provider's refusal and the carrier's.
    await expect
      .poll(() =>
        page
          .locator("#errors [data-code]")
          .evaluateAll((l) => l.map((e) => e.getAttribute("data-code"))),
      )
      .toEqual(expect.arrayContaining(["21211", "30003"]));
    expect(await page.locator('#errors [data-code="21211"]').textContent()).toContain(
      "recipient_permanent",
    );
    // Key figures, queue lanes and the account.
    expect(await page.locator('[data-kpi="delivery-rate"] .kpi-value').textContent()).toBe(
      "75.0 %",
    );
    expect(await page.locator("#queue [data-lane]").count()).toBe(3);
    const account = page.locator("#accounts [data-account]");
    expect(await account.count()).toBe(1);
    expect(await account.getAttribute("data-circuit")).toBe("closed");
    expect(await account.textContent()).toContain("16"); // calls in the window
  });

  it(
    "finds a message by id and by phone number and shows its timeline",
    { timeout: 60_000 },
    async () => {
      const refused = await fetch(
        `${running.url}/v1/messages?to=${encodeURIComponent(REFUSED(0))}`,
        { headers: { authorization: `Bearer ${API_KEY}` } },
      ).then((r) => r.json() as Promise<{ data: { id: string }[] }>);
      const id = refused.data[0]?.id as string;
      expect(id).toMatch(/^msg_/);

      await page.locator("#search").fill(id);
      await page.locator("#search-form button").click();
      const detail = page.locator(`#detail .message[data-id="${id}"]`);
      await detail.waitFor();
      expect(await detail.getAttribute("data-status")).toBe("failed");
      const attempt = page.locator('#timeline li[data-kind="attempt"]');
      expect(await attempt.count()).toBe(1);
      expect(await attempt.textContent()).toMatch(
        /attempt 1 via twilio\/\S+: failed 21211 \[recipient_permanent\] HTTP 400/,
      );
      expect(await page.locator("#timeline").textContent()).toContain("sending → failed");

      // By phone number, written the way a person would: the newest message to it is shown.
      await page.locator("#search").fill("(415) 555-0103");
      await page.locator("#search-form button").click();
      const byPhone = page.locator('#detail .message[data-status="delivered"]');
      await byPhone.waitFor();
      expect(await page.locator("#matches tbody tr").count()).toBe(1);
      expect(await byPhone.textContent()).toContain(GOOD(3));
      expect(await page.locator('#timeline li[data-kind="attempt"]').textContent()).toMatch(
        /attempt 1 via twilio\/\S+: accepted/,
      );
      expect(await page.locator('#timeline li[data-kind="receipt"]').allTextContents()).toEqual(
        expect.arrayContaining([expect.stringContaining("→ delivered")]),
      );

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });
      expect(problems).toEqual([]);
    },
  );
});
