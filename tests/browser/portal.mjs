// The demo portal end to end in headless Chromium, as a person uses it:
//   node tests/browser/portal.mjs <gateway-url> [--cross-origin-port PORT]
// e.g. node tests/browser/portal.mjs http://127.0.0.1:50051
//
// On the gateway's own page (<gateway-url>/portal/): submits an empty petition (sees
// INVALID_ARGUMENT and the violated field), types a petition and submits it (sees a tracking
// number), submits it again (the same receipt, replayed), tracks it (sees the status, then the
// unit once triage has routed it).
//
// With --cross-origin-port, the same files are also served by this script on PORT, as a
// portal on its own origin would host them (with <meta name="minhu-endpoint"> naming the
// gateway), under two host names: http://portal.test:PORT, which the gateway must list in
// [web] allow_origins, submits and tracks through CORS; http://other.test:PORT, which it does
// not list, is refused by the browser.
//
// Prints `tracking_number=… query_code=… status=… unit=…` (and `cross_origin_tracking_number=…
// cross_origin_query_code=…`) and exits 0; on any failure prints why and a screenshot's path,
// and exits 1.
//
// Chromium: Debian's /usr/bin/chromium (or $CHROMIUM), started with the flags a closed
// network needs (no QUIC, no background or component-update traffic, no sync).

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const usage = "usage: node portal.mjs <gateway-url, e.g. http://127.0.0.1:50051> [--cross-origin-port PORT]";
const [gateway, flag, portArg] = process.argv.slice(2);
if (!gateway || (flag !== undefined && (flag !== "--cross-origin-port" || !/^\d+$/.test(portArg ?? "")))) {
  console.error(usage);
  process.exit(2);
}
const crossOriginPort = flag ? Number(portArg) : null;
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const TIMEOUT_MS = 30_000;
const TRACKING_NUMBER = /^[A-Z]+\d{8}-\d+$/;
const PORTAL_FILES = join(dirname(fileURLToPath(import.meta.url)), "../../services/minhu/portal");

const userDataDir = await mkdtemp(join(tmpdir(), "minhu-portal-chromium-"));
const logs = [];
let context;
let page;
let server;

async function cleanUp() {
  await context?.close().catch(() => {});
  server?.close();
  await rm(userDataDir, { recursive: true, force: true });
}

async function fail(error) {
  console.error(`portal test failed: ${error.stack ?? error}`);
  for (const line of logs) console.error(`  browser: ${line}`);
  if (page) {
    const path = join(tmpdir(), `minhu-portal-failure-${Date.now()}.png`);
    try {
      await page.screenshot({ path, fullPage: true });
      console.error(`screenshot: ${path} (page ${page.url()})`);
    } catch (e) {
      console.error(`no screenshot: ${e.message}`);
    }
  }
  await cleanUp();
  process.exit(1);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function text(selector) {
  return (await page.locator(selector).textContent())?.trim() ?? "";
}

async function open(url) {
  page = await context.newPage();
  const errors = [];
  page.on("console", (m) => {
    logs.push(`${url} console.${m.type()}: ${m.text()}`);
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => {
    logs.push(`${url} page error: ${e.message}`);
    errors.push(e.message);
  });
  page.on("requestfailed", (r) => logs.push(`${url} request failed: ${r.url()} ${r.failure()?.errorText}`));
  const response = await page.goto(url);
  check(response?.ok(), `GET ${url} answered ${response?.status()}`);
  await page.locator("body[data-ready=true]").waitFor();
  check((await page.inputValue("#token")) === "demo-web-portal-token", "the demo token is not prefilled");
  return errors;
}

// Every file loaded, every call answered: the browser logged no error on the page.
function checkClean(errors) {
  check(errors.length === 0, `the page logged errors: ${errors.join("; ")}`);
}

async function typePetition(title) {
  await page.fill("#title", title);
  await page.fill("#body", "黄宅镇某小区有业主违章搭建，物业不管。");
  await page.fill("#phone", "13812345678");
  await page.fill("#address", "浦江县黄宅镇");
}

// An empty petition: INVALID_ARGUMENT with the body named as the violated field (the status
// and its details come in response headers, which CORS must expose on another origin).
async function submitEmpty() {
  await page.click("#submit");
  await page.locator("#error").waitFor({ state: "visible" });
  const error = await text("#error");
  check(error.includes("INVALID_ARGUMENT"), `the error shown is not INVALID_ARGUMENT: ${error}`);
  await page.locator('#violations li[data-field="petition.body"]').waitFor();
}

async function submitAndReadReceipt() {
  await page.click("#submit");
  await page.locator("#receipt").waitFor({ state: "visible" });
  const trackingNumber = await text("#tracking-number");
  const queryCode = await text("#query-code");
  check(TRACKING_NUMBER.test(trackingNumber), `no tracking number on the receipt: ${trackingNumber}`);
  check(queryCode.length > 0, "no query code on the receipt");
  check(await page.locator("#error").isHidden(), `an error is shown: ${await text("#error")}`);
  return { trackingNumber, queryCode };
}

// Track: the status at once, the unit once triage has routed the petition.
async function trackUntilRouted(trackingNumber) {
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
  check(status.length > 0, "no status shown");
  check((await page.locator("#track-history li").count()) > 0, "no history shown");
  return { status, unit: await text("#track-unit") };
}

// The portal's files as a portal on its own origin hosts them: index.html names the gateway.
async function servePortalCopy(port) {
  const files = {
    "/portal/": ["text/html; charset=utf-8", "index.html"],
    "/portal/portal.js": ["text/javascript; charset=utf-8", "portal.js"],
    "/portal/grpc-web.js": ["text/javascript; charset=utf-8", "grpc-web.js"],
    "/portal/protobuf.js": ["text/javascript; charset=utf-8", "protobuf.js"],
    "/portal/style.css": ["text/css; charset=utf-8", "style.css"],
    "/portal/favicon.svg": ["image/svg+xml", "favicon.svg"],
  };
  const endpoint = `<meta name="minhu-endpoint" content="${new URL(gateway).origin}">`;
  const copy = createServer(async (request, response) => {
    const file = files[new URL(request.url, "http://portal.test").pathname];
    if (!file) {
      response.writeHead(404).end();
      return;
    }
    let body = await readFile(join(PORTAL_FILES, file[1]), "utf8");
    if (file[1] === "index.html") body = body.replace('<meta charset="utf-8">', `<meta charset="utf-8">\n  ${endpoint}`);
    response.writeHead(200, { "content-type": file[0] }).end(body);
  });
  await new Promise((resolve, reject) => {
    copy.once("error", reject);
    copy.listen(port, "127.0.0.1", resolve);
  });
  return copy;
}

try {
  if (crossOriginPort !== null) server = await servePortalCopy(crossOriginPort);
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
      // Two host names for the portal copy, both this machine: two origins.
      "--host-resolver-rules=MAP portal.test 127.0.0.1, MAP other.test 127.0.0.1",
    ],
  });
  context.setDefaultTimeout(TIMEOUT_MS);

  // The gateway's own page: same origin.
  const ownPage = await open(new URL("/portal/", gateway).href);
  await submitEmpty();
  await typePetition("小区违章搭建");
  const receipt = await submitAndReadReceipt();
  // The same petition again (a second click): the original receipt, replayed.
  await page.click("#submit");
  await page.locator("#replayed").waitFor({ state: "visible" });
  check((await text("#tracking-number")) === receipt.trackingNumber, "a second click gave another tracking number");
  const tracked = await trackUntilRouted(receipt.trackingNumber);
  checkClean(ownPage);
  const lines = [
    `tracking_number=${receipt.trackingNumber} query_code=${receipt.queryCode} status=${tracked.status} unit=${tracked.unit}`,
  ];

  if (crossOriginPort !== null) {
    // A portal on its own, listed origin: CORS lets the page call and read the answers.
    const listedPage = await open(`http://portal.test:${crossOriginPort}/portal/`);
    await submitEmpty();
    await typePetition("小区违章搭建（另一门户）");
    const crossOrigin = await submitAndReadReceipt();
    check(crossOrigin.trackingNumber !== receipt.trackingNumber, "the other portal's petition got the same receipt");
    await trackUntilRouted(crossOrigin.trackingNumber);
    checkClean(listedPage);
    lines.push(
      `cross_origin_tracking_number=${crossOrigin.trackingNumber} cross_origin_query_code=${crossOrigin.queryCode}`,
    );

    // An origin the gateway does not list: the browser withholds the answer.
    await open(`http://other.test:${crossOriginPort}/portal/`);
    await typePetition("未列入的门户");
    await page.click("#submit");
    await page.locator("#error").waitFor({ state: "visible" });
    const refused = await text("#error");
    check(refused.includes("UNAVAILABLE") && refused.includes("network"), `not refused by CORS: ${refused}`);
    check(await page.locator("#receipt").isHidden(), "a receipt is shown to an unlisted origin");
  }

  console.log(lines.join("\n"));
  await cleanUp();
} catch (e) {
  await fail(e);
}
