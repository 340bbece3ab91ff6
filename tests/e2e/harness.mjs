// What the page tests (tests/e2e/*.test.mjs) and the benchmarks
// (scripts/bench_page.mjs, scripts/bench_training.mjs) share: a server over
// dist/, Chromium with and without WebGPU, waits that fail early on a broken
// page, digits drawn with the mouse, and the report's median and table. Not named *.test.mjs, so `node --test` does not run it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import { after, before } from 'node:test';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, errors } from 'playwright-core';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const dist = path.join(root, 'dist');
/** Where the tests leave their screenshots. */
export const artifacts = path.join(root, 'test-artifacts');

// One answer of the page: a classification, the next characters, a verify
// run, a weights file read.
export const ANSWER_TIMEOUT_MS = 60_000;

// ---- Serving dist/ -----------------------------------------------------------

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

/** Serves dist/ on a free local port; returns its URL and a function that stops it. */
export async function serve() {
  const server = http.createServer(async (req, res) => {
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
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/**
 * For a test file: serves the built dist/ (checked to exist) from before its
 * first test to after its last, and makes test-artifacts/. Returns the
 * server, whose `url` is set once the tests start.
 */
export function serveForTests() {
  const site = {};
  before(async () => {
    assert.ok(existsSync(path.join(dist, 'index.html')), `${dist}/index.html missing: run trunk build first`);
    await mkdir(artifacts, { recursive: true });
    Object.assign(site, await serve());
  });
  after(() => site.close?.());
  return site;
}

// ---- Chromium ----------------------------------------------------------------

// Flags from TOOLCHAIN checks: root needs --no-sandbox; the rest keep Chromium
// from reaching for a network that is not there.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu', ...CHROMIUM_ARGS];

/**
 * The two ways the page runs: `name` for file names, `title` for tables,
 * `label` for test names; `backend` is what #app's data-backend must say.
 */
export const CONFIGS = [
  { name: 'webgpu', title: 'WebGPU', label: 'with WebGPU', args: WEBGPU_ARGS, backend: 'gpu' },
  { name: 'cpu', title: 'CPU', label: 'without WebGPU', args: CHROMIUM_ARGS, backend: 'cpu' },
];

/**
 * A fresh headless Chromium with `args` and one page in it, not navigated
 * yet, its language `locale`. Returns the browser (the caller closes it),
 * the page, a list that collects uncaught exceptions and console errors,
 * and a promise that
 * rejects on the first uncaught exception or Rust panic, so a broken page
 * fails at once instead of at a long timeout.
 */
export async function launchPage(args, { locale = 'en-US' } = {}) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args });
  try {
    // The page takes its language from the browser's: pin it, so that the
    // labels the tests read do not depend on the machine's locale.
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale });
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
    return { browser, page, problems, broken };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

// ---- Waiting -----------------------------------------------------------------

/** The outerHTML of what `selector` matches, cut short, for failure messages. */
export function snapshot(page, selector) {
  return page
    .evaluate(
      (sel) => [...document.querySelectorAll(sel)].map((el) => el.outerHTML.slice(0, 3000)).join('\n') || `(no ${sel})`,
      selector,
    )
    .catch((e) => `(${selector}: ${e.message})`);
}

/**
 * Waits until `fn(arg)` holds in the page of `run` (from launchPage), racing
 * the page's own failures (uncaught exceptions, panics). A timeout fails with
 * `what`, the markup of `show` and the console errors, which say more than a
 * bare TimeoutError.
 */
export async function until(run, what, fn, arg, { timeout = ANSWER_TIMEOUT_MS, show, polling = 100 } = {}) {
  const waited = run.page.waitForFunction(fn, arg, { timeout, polling });
  waited.catch(() => {}); // mark handled: if `broken` wins, this rejects later
  try {
    await Promise.race([waited, run.broken]);
  } catch (e) {
    if (!(e instanceof errors.TimeoutError)) throw e;
    const shown = show ? `\n${await snapshot(run.page, show)}` : '';
    const problems = run.problems.length ? `\n${run.problems.join('\n')}` : '';
    assert.fail(`no ${what} within ${timeout / 1000} s${shown}${problems}`);
  }
}

// ---- Digits as a person draws them -------------------------------------------
// Strokes are polylines in canvas pixels (0..280), drawn large like a person
// fills the box. Each is resampled every few pixels, so the mouse reports
// many short moves as a real pointer does.

/** The drawing canvas's own size (its width and height attributes). */
const CANVAS = 280;

/** Points every `step` pixels along the polyline through `corners`. */
export function polyline(corners, step = 6) {
  const out = [corners[0]];
  for (let i = 1; i < corners.length; i++) {
    const [x0, y0] = corners[i - 1];
    const [x1, y1] = corners[i];
    const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) / step));
    for (let k = 1; k <= n; k++) out.push([x0 + ((x1 - x0) * k) / n, y0 + ((y1 - y0) * k) / n]);
  }
  return out;
}

/** `n` + 1 corners along an elliptic arc; degrees, 0 = right, clockwise on screen. */
export function arc(cx, cy, rx, ry, fromDeg, toDeg, n = 40) {
  return Array.from({ length: n + 1 }, (_, i) => {
    const a = ((fromDeg + ((toDeg - fromDeg) * i) / n) * Math.PI) / 180;
    return [cx + rx * Math.cos(a), cy + ry * Math.sin(a)];
  });
}

/** [class, strokes]: the digits drawn and what the page must answer. */
export const DIGITS = [
  // One vertical stroke, leaning a little as a right hand draws it.
  ['1', [polyline([[152, 30], [130, 250]])]],
  // An ellipse of many short segments from the top, overlapping a little
  // where it closes.
  ['0', [polyline(arc(140, 140, 75, 108, -100, 275, 60))]],
  // The top bar, then down to the left, in one stroke.
  ['7', [polyline([[60, 48], [218, 48], [115, 252]])]],
  // The open 4: down and across, then the upright.
  ['4', [polyline([[90, 30], [70, 168], [228, 168]]), polyline([[188, 36], [188, 258]])]],
  // Two bumps to the right, in one stroke.
  ['3', [polyline([...arc(135, 88, 62, 58, -160, 95), ...arc(135, 198, 66, 60, -95, 160)])]],
];

/**
/**
 * Shows the part of the page named `section` (draw, inside, train, text,
 * lab, service, own) as a person would: with its link in the top navigation.
 */
export async function show(page, section) {
  await page.click(`#nav-${section}`);
  await page.waitForFunction((s) => document.querySelector('#app')?.dataset.section === s, section);
}

/** Opens the settings (language, self-test) in the header. */
export async function openSettings(page) {
  if (!(await page.locator('#settings').evaluate((el) => el.open))) await page.click('#settings summary');
}

/**
 * Draws `strokes` on the canvas `selector` (the digit pad unless told) with
 * the mouse (pointerdown, moves, up), first showing the drawing pad if the
 * digit pad is asked for and the part of the page shown has none.
 */
export async function draw(page, strokes, selector = '#draw-canvas') {
  const canvas = page.locator(selector);
  if (selector === '#draw-canvas' && !(await canvas.isVisible())) await show(page, 'draw');
  await canvas.scrollIntoViewIfNeeded();
  const box = await canvas.boundingBox();
  assert.ok(box, `${selector} has no box: not visible`);
  // CSS may show the canvas at another size than its 280 pixels.
  const at = ([x, y]) => [box.x + (x * box.width) / CANVAS, box.y + (y * box.height) / CANVAS];
  for (const stroke of strokes) {
    await page.mouse.move(...at(stroke[0]));
    await page.mouse.down();
    for (const p of stroke.slice(1)) await page.mouse.move(...at(p));
    await page.mouse.up();
  }
}

// ---- Accessibility -----------------------------------------------------------

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/**
 * Runs axe-core (WCAG 2 A and AA rules) on what `selector` matches in the
 * page as it is now, and fails listing every violation: rule, impact and
 * the first elements at fault.
 */
/**
 * Trains the text model chosen on the pad for `steps` steps in the page
 * (from its current weights, batch 4, window 32) and returns #tt-status's
 * data once the run is done.
 */
export async function trainTextSteps(run, steps, timeout = 300_000) {
  const { page } = run;
  await page.selectOption('#tt-from', 'current');
  for (const [key, value] of Object.entries({ batch: 4, window: 32, steps })) {
    await page.locator(`#tt-${key}`).fill(String(value));
    await page.locator(`#tt-${key}`).dispatchEvent('change');
  }
  await page.click('#tt-start');
  await until(
    run,
    '#tt-status done',
    (steps) =>
      ['done', 'idle'].includes(document.querySelector('#tt-status')?.dataset.state) &&
      document.querySelector('#tt-status')?.dataset.step === String(steps),
    steps,
    { timeout, show: '#tt-status, #tt-message, #text-model' },
  );
  return page.locator('#tt-status').evaluate((el) => ({ ...el.dataset }));
}

export async function assertAccessible(page, selector = 'body') {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async (sel) => {
    const r = await window.axe.run(sel, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'], resultTypes: ['violations'] });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes
      .slice(0, 4)
      .map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`)
      .join('\n    ')}`);
  }, selector);
  assert.deepEqual(violations, [], `axe-core found in ${selector}:\n${violations.join('\n')}`);
}

// ---- Benchmark reports (scripts/bench_*.mjs) ---------------------------------

/** The median of the finite numbers of `xs`; NaN when there are none. */
export function median(xs) {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export /** Prints rows of cells as columns: the first left-aligned, the rest right. */
function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  for (const r of rows) {
    console.log(`  ${r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('   ')}`);
  }
}

/** Prints each failed configuration's error and exits, 1 if any failed. */
export function exitWithFailures(results) {
  let failed = false;
  for (const { cfg, error } of results) {
    if (error) {
      console.log(`\n${cfg.title} failed: ${error}`);
      failed = true;
    }
  }
  process.exit(failed ? 1 : 0);
}
