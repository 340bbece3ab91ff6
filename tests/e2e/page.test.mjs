// The built page (dist/, from `trunk build`) in Debian's Chromium, twice:
// with WebGPU (Chromium's own CPU implementation, SwiftShader) the page must
// name WebGPU and pass its kernel self-test; without it, it must say it runs
// on the CPU. Neither may panic. scripts/test runs this after the page build.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, errors } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dist = path.join(root, 'dist');
const artifacts = path.join(root, 'test-artifacts');

// The page's self-test runs every kernel at two shapes (selftest::QUICK_DIMS)
// on SwiftShader and the wasm CPU twins: about 5 s here; the margin is for a
// busy 2-core machine.
const SELFTEST_TIMEOUT_MS = 120_000;

// Flags from TOOLCHAIN checks: root needs --no-sandbox; the rest keep Chromium
// from reaching for a network that is not there.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

// WebAssembly.instantiateStreaming refuses a .wasm served as anything but
// application/wasm.
const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

let server;
let baseUrl;

before(async () => {
  assert.ok(existsSync(path.join(dist, 'index.html')), `${dist}/index.html missing: run trunk build first`);
  await mkdir(artifacts, { recursive: true });
  server = http.createServer(async (req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url, 'http://localhost').pathname);
    const file = path.join(dist, urlPath.endsWith('/') ? `${urlPath}index.html` : urlPath);
    if (!file.startsWith(dist + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${server.address().port}/`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

/**
 * Opens the page in a fresh headless Chromium with `args`. Returns the page
 * and a list that collects uncaught exceptions and console errors, plus a
 * promise that rejects on the first uncaught exception or Rust panic, so a
 * broken page fails at once instead of at the self-test timeout.
 */
async function openPage(t, args) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = [];
  let fail;
  const broken = new Promise((_, reject) => {
    fail = reject;
  });
  broken.catch(() => {}); // mark handled: it only matters while raced below
  page.on('pageerror', (e) => {
    problems.push(`uncaught: ${e.stack ?? e.message}`);
    fail(new Error(problems.join('\n')));
  });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    problems.push(`console.error: ${m.text()}`);
    // console_error_panic_hook logs Rust panics as console errors.
    if (m.text().includes('panicked at')) fail(new Error(problems.join('\n')));
  });
  await page.goto(baseUrl);
  return { page, problems, broken };
}

/**
 * Waits until #selftest's data-status is `want` or "failed" (so a failing
 * self-test ends the wait early), then returns its status and text.
 */
async function settleSelftest(page, broken, want) {
  const settled = page.waitForFunction(
    (want) => ['failed', want].includes(document.querySelector('#selftest')?.getAttribute('data-status')),
    want,
    { timeout: SELFTEST_TIMEOUT_MS },
  );
  settled.catch(() => {}); // mark handled: if `broken` wins, this rejects later
  try {
    await Promise.race([settled, broken]);
  } catch (e) {
    // On timeout, report what the page shows instead; anything else is the failure.
    if (!(e instanceof errors.TimeoutError)) throw e;
  }
  return page.evaluate(() => {
    const el = document.querySelector('#selftest');
    return { status: el?.getAttribute('data-status') ?? null, text: el?.innerText ?? '(no #selftest)' };
  });
}

function assertNoPanic(problems) {
  const fatal = problems.filter((p) => p.startsWith('uncaught:') || p.includes('panicked at'));
  assert.deepEqual(fatal, [], `page errors:\n${problems.join('\n')}`);
}

test('with WebGPU: names WebGPU and passes the kernel self-test', { timeout: SELFTEST_TIMEOUT_MS + 60_000 }, async (t) => {
  const { page, problems, broken } = await openPage(t, ['--enable-unsafe-webgpu', ...CHROMIUM_ARGS]);
  try {
    const selftest = await settleSelftest(page, broken, 'passed');
    assert.equal(selftest.status, 'passed', `self-test:\n${selftest.text}\n${problems.join('\n')}`);
    assert.match(await page.locator('#backend').innerText(), /WebGPU/);
    assert.equal(await page.locator('#fallback-banner').count(), 0, 'fallback banner shown although WebGPU is there');
  } finally {
    await page.screenshot({ path: path.join(artifacts, 'page-webgpu.png'), fullPage: true });
  }
  assertNoPanic(problems);
});

test('without WebGPU: falls back to the CPU and says so', { timeout: SELFTEST_TIMEOUT_MS + 60_000 }, async (t) => {
  const { page, problems, broken } = await openPage(t, CHROMIUM_ARGS);
  try {
    const selftest = await settleSelftest(page, broken, 'cpu-only');
    assert.equal(selftest.status, 'cpu-only', `self-test:\n${selftest.text}\n${problems.join('\n')}`);
    const banner = page.locator('#fallback-banner');
    assert.ok(await banner.isVisible(), 'no visible #fallback-banner');
    assert.match(await banner.innerText(), /CPU/);
    assert.match(await page.locator('#backend').innerText(), /CPU/);
  } finally {
    await page.screenshot({ path: path.join(artifacts, 'page-cpu.png'), fullPage: true });
  }
  assertNoPanic(problems);
});
