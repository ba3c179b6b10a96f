// The demo portal end to end in headless Chromium, as a person uses it:
//   node tests/browser/portal.mjs http://127.0.0.1:50051
// opens <base>/portal/, submits an empty petition (and sees the violated field), types a
// petition and submits it (sees a tracking number), submits it again (the same receipt,
// replayed), clicks "track" (sees the status, then the unit once triage has routed it).
// Prints `tracking_number=… query_code=… status=… unit=…` and exits 0; on any failure prints
// why and a screenshot's path, and exits 1.
//
// Chromium: Debian's /usr/bin/chromium (or $CHROMIUM), started with the flags a closed
// network needs (no QUIC, no background or component-update traffic, no sync).

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.argv[2];
if (!base) {
  console.error("usage: node portal.mjs <base-url, e.g. http://127.0.0.1:50051>");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT_MS = 30_000;
const TRACKING_NUMBER = /^[A-Z]+\d{8}-\d+$/;

const userDataDir = await mkdtemp(join(tmpdir(), "minhu-portal-chromium-"));
const logs = [];
let context;
let page;

async function fail(error) {
  console.error(`portal test failed: ${error.stack ?? error}`);
  for (const line of logs) console.error(`  browser: ${line}`);
  if (page) {
    const path = join(tmpdir(), `minhu-portal-failure-${Date.now()}.png`);
    try {
      await page.screenshot({ path, fullPage: true });
      console.error(`screenshot: ${path}`);
    } catch (e) {
      console.error(`no screenshot: ${e.message}`);
    }
  }
  await context?.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true });
  process.exit(1);
}

async function text(selector) {
  return (await page.locator(selector).textContent())?.trim() ?? "";
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    timeout: TIMEOUT_MS,
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
  context.setDefaultTimeout(TIMEOUT_MS);
  page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (m) => logs.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => logs.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));

  const response = await page.goto(new URL("/portal/", base).href);
  check(response?.ok(), `GET /portal/ answered ${response?.status()}`);
  await page.locator("body[data-ready=true]").waitFor();
  check((await page.inputValue("#token")) === "demo-web-portal-token", "the demo token is not prefilled");

  // An empty petition: INVALID_ARGUMENT, the body named as the violated field.
  await page.click("#submit");
  await page.locator("#error").waitFor({ state: "visible" });
  const error = await text("#error");
  check(error.includes("INVALID_ARGUMENT"), `the error shown is not INVALID_ARGUMENT: ${error}`);
  await page.locator('#violations li[data-field="petition.body"]').waitFor();

  await page.fill("#title", "小区违章搭建");
  await page.fill("#body", "黄宅镇某小区有业主违章搭建，物业不管。");
  await page.fill("#phone", "13812345678");
  await page.fill("#address", "浦江县黄宅镇");
  await page.click("#submit");
  await page.locator("#receipt").waitFor({ state: "visible" });
  const trackingNumber = await text("#tracking-number");
  const queryCode = await text("#query-code");
  check(TRACKING_NUMBER.test(trackingNumber), `no tracking number on the receipt: ${trackingNumber}`);
  check(queryCode.length > 0, "no query code on the receipt");
  check(await page.locator("#error").isHidden(), `an error is shown: ${await text("#error")}`);

  // The same petition again (a second click): the original receipt, replayed.
  await page.click("#submit");
  await page.locator("#replayed").waitFor({ state: "visible" });
  check((await text("#tracking-number")) === trackingNumber, "a second click gave another tracking number");

  // Track: the status at once, the unit once triage has routed the petition.
  await page.click("#track");
  await page.locator("#track-result").waitFor({ state: "visible" });
  check((await text("#track-tracking-number")) === trackingNumber, "tracked another number");
  const deadline = Date.now() + TIMEOUT_MS;
  while ((await text("#track-unit")) === "尚未分派") {
    check(Date.now() < deadline, `not routed within ${TIMEOUT_MS} ms: ${await text("#track-status")}`);
    await page.waitForTimeout(300);
    await page.click("#track-button");
    await page.locator("#track-button:enabled").waitFor();
  }
  const status = await text("#track-status");
  const unit = await text("#track-unit");
  check(status.length > 0, "no status shown");
  check((await page.locator("#track-history li").count()) > 0, "no history shown");

  console.log(`tracking_number=${trackingNumber} query_code=${queryCode} status=${status} unit=${unit}`);
  await context.close();
  await rm(userDataDir, { recursive: true, force: true });
} catch (e) {
  await fail(e);
}
