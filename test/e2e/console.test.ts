// The web console in headless Chromium driven by playwright-core (Debian's chromium when
// installed, else the one `npm ci` brings in @sparticuz/chromium; see browser.ts): load `/`,
// type the token, see datasets and a schema, run a query and see the rows, see observer
// stats move after events, take a screenshot.

import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findChromium } from "./browser";
import { type System, startSystem } from "./harness";

const TOKEN = "console-e2e-token";
const OUTPUT = resolve(import.meta.dirname, "../../test-results");

describe("web console", () => {
  let sys: System;
  let browser: BrowserContext;
  let page: Page;
  let profile: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const chromiumUsed = await findChromium(); // first: it may unpack the bundled browser (≈ 2 s)
    console.log(`console test browser: ${chromiumUsed.source} ${chromiumUsed.executablePath}`);
    sys = await startSystem({ vars: { AUTH_TOKEN: TOKEN } });
    const csv =
      "sku,title,price,in_stock\nA-1,lamp,19.5,true\nB-2,chair,45,false\nC-3,table,120.25,true\n";
    const ingested = await sys.json("/v1/ingest?name=console_products", {
      method: "POST",
      headers: { "content-type": "text/csv" },
      body: csv,
    });
    expect(ingested.status, JSON.stringify(ingested.body)).toBe(200);
    const embedded = await sys.json("/v1/embed", {
      method: "POST",
      json: { texts: ["a reading lamp for the desk", "an oak dining table"] },
    });
    expect(embedded.status, JSON.stringify(embedded.body)).toBe(200);
    const { dimension, vectors } = embedded.body as { dimension: number; vectors: number[][] };
    expect(
      (
        await sys.json("/v1/vectors/index", {
          method: "POST",
          json: { name: "console_docs", dimension, distance: "cosine" },
        })
      ).status,
    ).toBe(201);
    const added = await sys.json("/v1/vectors/index/console_docs/add", {
      method: "POST",
      json: {
        items: [
          { id: "lamp", vector: vectors[0], metadata: { sku: "A-1" } },
          { id: "table", vector: vectors[1], metadata: { sku: "C-3" } },
        ],
      },
    });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    profile = mkdtempSync(join(tmpdir(), "lakehouse-chromium-"));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumUsed.executablePath,
      headless: true,
      args: chromiumUsed.args,
      env: chromiumUsed.env,
      viewport: { width: 1280, height: 1000 },
    });
    page = await browser.newPage();
    page.on("pageerror", (e) => pageErrors.push(String(e)));
  });
  afterAll(async () => {
    await browser?.close();
    await sys?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it("is served at / without auth, with a strict content security policy", async () => {
    const res = await fetch(`${sys.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(res.headers.get("content-security-policy")).toMatch(
      /default-src 'none'; script-src 'self'/,
    );
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\//); // nothing fetched from elsewhere: works offline
    expect((await fetch(`${sys.url}/console/app.js`)).status).toBe(200);
  });

  it("asks for the token, then lists datasets and shows a schema", async () => {
    await page.goto(`${sys.url}/`);
    await page.locator("#banner").filter({ hasText: /token/ }).waitFor();
    await page.fill("#token", TOKEN);
    await page.click("#token-save");
    const row = page.locator('#datasets tr[data-name="console_products"]');
    await row.waitFor();
    await expect.poll(() => row.locator("td").nth(1).textContent()).toBe("3");
    await row.click();
    await page.locator("#dataset-schema tbody tr").nth(3).waitFor();
    const schema = await page.locator("#dataset-schema tbody tr").allTextContents();
    expect(schema).toEqual(["skustringno", "titlestringno", "pricefloat64no", "in_stockboolno"]);
    expect(await page.inputValue("#sql-input")).toMatch(/SELECT \* FROM "console_products"/);
  });

  it("runs a query and shows the rows", async () => {
    await page.fill(
      "#sql-input",
      "SELECT title, price FROM console_products WHERE in_stock ORDER BY price DESC",
    );
    await page.click("#sql-run");
    await page
      .locator("#sql-status")
      .filter({ hasText: /2 rows/ })
      .waitFor();
    expect(await page.locator("#sql-result thead th").allTextContents()).toEqual([
      "title",
      "price",
    ]);
    const rows = await page
      .locator("#sql-result tbody tr")
      .evaluateAll((trs) => trs.map((tr) => Array.from(tr.children).map((td) => td.textContent)));
    expect(rows).toEqual([
      ["table", "120.25"],
      ["lamp", "19.5"],
    ]);

    await page.fill("#sql-input", "SELECT nope FROM console_products");
    await page.keyboard.press("Control+Enter");
    await page
      .locator("#sql-error")
      .filter({ hasText: /bad_request/ })
      .waitFor();
    expect(await page.textContent("#sql-error")).toMatch(/nope/);
  });

  it("searches a vector index by text", async () => {
    await page.locator('#vector-index option[value="console_docs"]').waitFor({ state: "attached" });
    await page.selectOption("#vector-index", "console_docs");
    await page.fill("#vector-query", "oak dining table");
    await page.click("#vector-run");
    await page.locator("#vector-result tbody tr").first().waitFor();
    const first = await page
      .locator("#vector-result tbody tr")
      .first()
      .locator("td")
      .allTextContents();
    expect(first[0]).toBe("table");
    expect(first[2]).toBe("console_docs");
    expect(first[3]).toContain("C-3");
  });

  it("shows observer stats after events, with successes and failures in the chart", async () => {
    for (const success of [true, true, false]) {
      const res = await sys.json("/v1/observer/event", {
        method: "POST",
        json: {
          endpoint: "console/e2e",
          success,
          source: "scenario",
          input_summary: "in",
          output_summary: success ? "ok" : "",
          duration_ms: 3,
          ...(success ? {} : { error: "boom" }),
        },
      });
      expect(res.status).toBe(200);
    }
    const stats = (await sys.json("/v1/observer/stats")).body as {
      total: number;
      successes: number;
      failures: number;
    };
    await expect
      .poll(() => page.textContent("#stats-total"), { timeout: 15_000 })
      .toBe(String(stats.total));
    expect(await page.textContent("#stats-failures")).toBe(String(stats.failures));
    expect(Number(await page.textContent("#stats-failures"))).toBeGreaterThanOrEqual(1);
    await page.locator("#ops-chart rect.failures").first().waitFor();
    expect(await page.locator("#ops-chart rect.successes").count()).toBeGreaterThan(0);
    expect(
      await page.locator("#ops tbody tr").filter({ hasText: "console/e2e" }).count(),
    ).toBeGreaterThanOrEqual(3);

    mkdirSync(OUTPUT, { recursive: true });
    const shot = join(OUTPUT, "console.png");
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`console screenshot: ${shot}`);
    expect(existsSync(shot)).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});
