/// <reference lib="dom" />
/**
 * The report in a real browser: rendered from a small result set, opened in headless Chromium
 * (Debian's package; `make test` installs it), screenshotted, and checked for drawn plot marks,
 * console errors and a claims row per paper number.
 */
import { join } from "node:path";
import { chromium } from "playwright-core";
import { buildReport } from "../stages/report/build_report.ts";
import { CLAIMS } from "../stages/report/claims.ts";
import { renderHtml } from "../stages/report/document.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { smallReportData } from "./helpers/report_data.ts";

const CHROMIUM = "/usr/bin/chromium";

/** Where the screenshot is kept for people to look at (the cache folder is not committed). */
const SCREENSHOT = new URL("../.cache/report_screenshot.png", import.meta.url);

Deno.test("the report opens in Chromium with its plots drawn, no console errors, all claims", async () => {
  const exists = await Deno.stat(CHROMIUM).then(() => true, () => false);
  assert(exists, `${CHROMIUM} is missing: run \`make test\` (it installs Debian's chromium)`);
  const directory = await Deno.makeTempDir({ prefix: "report-browser-" });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Flags for a sandboxed, offline machine (see the env notes: no background networking).
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  try {
    const path = join(directory, "report.html");
    await Deno.writeTextFile(path, renderHtml(await buildReport(smallReportData())));
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const problems: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(message.text());
    });
    page.on("pageerror", (error) => problems.push(String(error)));
    page.on("requestfailed", (request) => problems.push(`request failed: ${request.url()}`));
    await page.goto(`file://${path}`);
    const found = await page.evaluate(() => {
      const claims = [...document.querySelectorAll("h2")].find((h) =>
        h.textContent === "Claims vs measurements"
      )!.parentElement!.querySelectorAll("tbody tr").length;
      return {
        figures: document.querySelectorAll("figure svg").length,
        marks: document.querySelectorAll('svg g[class*="role-mark"] > *').length,
        claims,
      };
    });
    await page.screenshot({ path: SCREENSHOT.pathname, fullPage: true });
    assertEquals(problems, []);
    assertEquals(
      found.figures,
      5,
      "trade-off, scores, retain frequencies, sweep heatmap, training curves",
    );
    assert(found.marks > 20, `${found.marks} drawn marks`);
    assertEquals(found.claims, CLAIMS.length);
    assertEquals(CLAIMS.length, 16, "one row per number the paper states");
    const png = await Deno.readFile(SCREENSHOT);
    assertEquals([...png.slice(1, 4)], [0x50, 0x4e, 0x47], "a PNG screenshot");
  } finally {
    await browser.close();
    await Deno.remove(directory, { recursive: true });
  }
});
