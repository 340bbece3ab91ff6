#!/usr/bin/env node
// How heavy and how quick the built page is, with WebGPU (Chromium's
// SwiftShader where there is no GPU) and on the CPU fallback:
//
//   - download sizes of dist's code and models, raw and gzipped;
//   - cold start, a new browser each time: from navigation to the drawing
//     canvas, to #app[data-ready] and to the first prediction of one stroke
//     drawn as soon as the canvas exists (the median of --cold loads);
//   - then, warm, the median over --strokes drawings of the page's own
//     data-latency-ms (last pointer event to updated bars) and data-net-ms
//     (the network's share of it).
//
// Run by hand after a release build:
//
//   trunk build --release && node scripts/bench_page.mjs [--cold 3] [--strokes 15]
//
// Uses the same Chromium and flags as tests/e2e/page.test.mjs. Times come
// from the page's own clock (performance.now(), 0 at navigation start), so
// the cost of driving the browser from node stays out of them, except the
// drawing of the cold stroke itself, which happens after the canvas appears.
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');

const { values: opts } = parseArgs({
  options: {
    cold: { type: 'string', default: '3' },
    strokes: { type: 'string', default: '15' },
  },
});
const COLD_RUNS = Math.max(1, Number(opts.cold));
const STROKE_RUNS = Math.max(1, Number(opts.strokes));

// A cold start fetches and compiles the wasm, loads both models and, with
// WebGPU, compiles every pipeline: generous on a slow machine.
const READY_TIMEOUT_MS = 180_000;
const ANSWER_TIMEOUT_MS = 60_000;
// A classification is final once #prediction and the bars have been quiet
// this long (or three times the page's last latency, if longer): the page
// answers at each animation frame while a stroke is drawn.
const QUIET_MS = 500;

// As in tests/e2e/page.test.mjs: root needs --no-sandbox; the rest keep
// Chromium from reaching for a network that is not there.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const CONFIGS = [
  { name: 'WebGPU', args: ['--enable-unsafe-webgpu', ...CHROMIUM_ARGS] },
  { name: 'CPU', args: CHROMIUM_ARGS },
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
};

// ---- Drawing -----------------------------------------------------------------
// The same shapes as the page tests: polylines in the canvas's 280 pixels,
// resampled so that the mouse reports many short moves as a pointer does.

const CANVAS = 280;

function polyline(corners, step = 6) {
  const out = [corners[0]];
  for (let i = 1; i < corners.length; i++) {
    const [x0, y0] = corners[i - 1];
    const [x1, y1] = corners[i];
    const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) / step));
    for (let k = 1; k <= n; k++) out.push([x0 + ((x1 - x0) * k) / n, y0 + ((y1 - y0) * k) / n]);
  }
  return out;
}

function arc(cx, cy, rx, ry, fromDeg, toDeg, n = 40) {
  return Array.from({ length: n + 1 }, (_, i) => {
    const a = ((fromDeg + ((toDeg - fromDeg) * i) / n) * Math.PI) / 180;
    return [cx + rx * Math.cos(a), cy + ry * Math.sin(a)];
  });
}

const DIGITS = [
  ['1', [polyline([[152, 30], [130, 250]])]],
  ['0', [polyline(arc(140, 140, 75, 108, -100, 275, 60))]],
  ['7', [polyline([[60, 48], [218, 48], [115, 252]])]],
  ['4', [polyline([[90, 30], [70, 168], [228, 168]]), polyline([[188, 36], [188, 258]])]],
  ['3', [polyline([...arc(135, 88, 62, 58, -160, 95), ...arc(135, 198, 66, 60, -95, 160)])]],
];

async function draw(page, strokes) {
  const canvas = page.locator('#draw-canvas');
  await canvas.scrollIntoViewIfNeeded();
  const box = await canvas.boundingBox();
  if (!box) throw new Error('#draw-canvas is not visible');
  const at = ([x, y]) => [box.x + (x * box.width) / CANVAS, box.y + (y * box.height) / CANVAS];
  for (const stroke of strokes) {
    await page.mouse.move(...at(stroke[0]));
    await page.mouse.down();
    for (const p of stroke.slice(1)) await page.mouse.move(...at(p));
    await page.mouse.up();
  }
}

// ---- Sizes -------------------------------------------------------------------

/** dist's code (.wasm, .js) and models, with raw and gzipped sizes. */
async function sizes() {
  const rows = [];
  const add = async (rel) => {
    const body = await readFile(path.join(dist, rel));
    rows.push({ name: rel, raw: body.length, gzip: gzipSync(body).length });
  };
  for (const f of (await readdir(dist)).sort()) if (/\.(wasm|js)$/.test(f)) await add(f);
  const models = path.join(dist, 'models');
  if (existsSync(models)) {
    for (const f of (await readdir(models)).sort()) if (f.endsWith('.safetensors')) await add(`models/${f}`);
  }
  return rows;
}

// ---- Page runs ---------------------------------------------------------------

/** Serves dist/ on a free local port; returns the server and its URL. */
async function serve() {
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
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

/**
 * Installed before the page's own scripts: notes, on the page's clock, when
 * the canvas first exists, when #app becomes ready and when the first
 * prediction lands; and counts changes to #prediction and the bars, so the
 * warm strokes can wait for their final answer.
 */
function pageProbe() {
  const marks = {};
  const watch = { changes: 0, last: 0 };
  window.__bench = { marks, watch };
  const inside = (node) => {
    const el = node?.nodeType === Node.ELEMENT_NODE ? node : node?.parentElement;
    return Boolean(el?.closest('#prediction, #probs'));
  };
  new MutationObserver((records) => {
    const now = performance.now();
    if (marks.canvas === undefined && document.getElementById('draw-canvas')) marks.canvas = now;
    if (marks.ready === undefined && document.getElementById('app')?.dataset.ready === 'true') marks.ready = now;
    if (marks.prediction === undefined && document.getElementById('prediction')?.dataset.state === 'ready') {
      marks.prediction = now;
    }
    if (records.some((m) => inside(m.target))) {
      watch.changes += 1;
      watch.last = now;
    }
  }).observe(document, { childList: true, subtree: true, attributes: true, characterData: true });
}

/**
 * Waits for `fn(arg)` in the page, failing early on an uncaught exception or
 * panic, and on timeout with `what` rather than a bare TimeoutError.
 */
async function until(page, broken, what, fn, arg, timeout) {
  const waited = page.waitForFunction(fn, arg, { timeout, polling: 50 });
  waited.catch(() => {});
  try {
    await Promise.race([waited, broken]);
  } catch (e) {
    if (e.name !== 'TimeoutError') throw e;
    throw new Error(`no ${what} within ${timeout / 1000} s`);
  }
}

/**
 * One cold load in a new browser: one stroke as soon as the canvas exists,
 * then the first prediction. With `strokes` > 0 it goes on, warm, with that
 * many drawings, each on a cleared canvas.
 */
async function coldRun(cfg, url, strokes) {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: cfg.args });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    let fail;
    const broken = new Promise((_, reject) => {
      fail = reject;
    });
    broken.catch(() => {});
    page.on('pageerror', (e) => fail(new Error(`uncaught: ${e.message}`)));
    page.on('console', (m) => {
      if (m.type() === 'error' && m.text().includes('panicked at')) fail(new Error(m.text()));
    });
    await page.addInitScript(pageProbe);
    // 'commit': return as soon as the navigation starts, so the stroke goes
    // in the moment the canvas exists, not after the load event.
    await page.goto(url, { waitUntil: 'commit' });
    await until(page, broken, '#draw-canvas', () => document.getElementById('draw-canvas') !== null, null, READY_TIMEOUT_MS);
    await draw(page, DIGITS[0][1]);
    await until(
      page,
      broken,
      'data-ready and first prediction after the cold stroke',
      () => window.__bench.marks.ready !== undefined && window.__bench.marks.prediction !== undefined,
      null,
      READY_TIMEOUT_MS,
    );
    const marks = await page.evaluate(() => window.__bench.marks);
    const backend = await page.locator('#app').getAttribute('data-backend');

    const warm = [];
    for (let i = 0; i < strokes; i++) {
      const [digit, shape] = DIGITS[i % DIGITS.length];
      await page.click('#clear');
      await until(
        page,
        broken,
        'empty #prediction after #clear',
        () => document.querySelector('#prediction')?.dataset.state === 'empty',
        null,
        ANSWER_TIMEOUT_MS,
      );
      const since = await page.evaluate(() => window.__bench.watch.changes);
      await draw(page, shape);
      await until(
        page,
        broken,
        `settled prediction of stroke ${i + 1}`,
        ([since, quiet]) => {
          const { watch } = window.__bench;
          const el = document.querySelector('#prediction');
          const wait = Math.max(quiet, 3 * (Number(el?.dataset.latencyMs) || 0));
          return el?.dataset.state === 'ready' && watch.changes > since && performance.now() - watch.last >= wait;
        },
        [since, QUIET_MS],
        ANSWER_TIMEOUT_MS,
      );
      const got = await page.locator('#prediction').evaluate((el) => ({
        digit: el.dataset.digit,
        latencyMs: Number(el.dataset.latencyMs),
        netMs: Number(el.dataset.netMs),
      }));
      warm.push({ ...got, right: got.digit === digit });
    }
    return { backend, ...marks, warm };
  } finally {
    await browser.close();
  }
}

// ---- Report ------------------------------------------------------------------

function median(xs) {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const ms = (x) => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '-');

function bytes(n) {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

/** Prints rows of cells as columns: the first left-aligned, the rest right. */
function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  for (const r of rows) {
    console.log(`  ${r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('   ')}`);
  }
}

/** Median with the range in brackets: "12.3 (8.1-20.5)". */
function spread(xs) {
  const ok = xs.filter(Number.isFinite);
  if (ok.length === 0) return '-';
  return `${ms(median(ok))} (${ms(Math.min(...ok))}-${ms(Math.max(...ok))})`;
}

async function main() {
  if (!existsSync(path.join(dist, 'index.html'))) {
    console.error(`${dist}/index.html missing: run trunk build --release first`);
    process.exit(1);
  }
  const built = (await stat(path.join(dist, 'index.html'))).mtime;
  console.log(`neuralpad page benchmark: ${dist} (built ${built.toISOString().slice(0, 16).replace('T', ' ')})`);

  const files = await sizes();
  const total = files.reduce((a, f) => ({ raw: a.raw + f.raw, gzip: a.gzip + f.gzip }), { raw: 0, gzip: 0 });
  console.log('\nDownload sizes');
  table([
    ['file', 'raw', 'gzip'],
    ...files.map((f) => [f.name, bytes(f.raw), bytes(f.gzip)]),
    ['total', bytes(total.raw), bytes(total.gzip)],
  ]);

  const { server, url } = await serve();
  const results = [];
  try {
    for (const cfg of CONFIGS) {
      const runs = [];
      let error = null;
      for (let i = 0; i < COLD_RUNS && !error; i++) {
        process.stderr.write(`${cfg.name}: cold load ${i + 1}/${COLD_RUNS}${i === 0 ? `, then ${STROKE_RUNS} strokes` : ''}\n`);
        try {
          // The warm strokes go in the first load's page, after its cold numbers.
          runs.push(await coldRun(cfg, url, i === 0 ? STROKE_RUNS : 0));
        } catch (e) {
          error = `cold load ${i + 1}: ${e.message.split('\n')[0]}`;
        }
      }
      results.push({ cfg, runs, error });
    }
  } finally {
    server.closeAllConnections();
    server.close();
  }

  console.log(`\nTimes in ms: cold = median of ${COLD_RUNS} loads, each in a new browser; warm = ${STROKE_RUNS} strokes, median (min-max)`);
  const col = (f) => results.map(({ runs }) => (runs.length ? f(runs) : '-'));
  const warm = (runs) => runs[0].warm;
  table([
    ['', ...results.map((r) => r.cfg.name)],
    ['backend (#app data-backend)', ...col((runs) => runs[0].backend ?? '?')],
    ['cold: navigation -> canvas', ...col((runs) => ms(median(runs.map((r) => r.canvas))))],
    ['cold: navigation -> data-ready', ...col((runs) => ms(median(runs.map((r) => r.ready))))],
    ['cold: navigation -> first prediction', ...col((runs) => ms(median(runs.map((r) => r.prediction))))],
    ['warm: last pointer event -> bars', ...col((runs) => spread(warm(runs).map((w) => w.latencyMs)))],
    ['warm: network (data-net-ms)', ...col((runs) => spread(warm(runs).map((w) => w.netMs)))],
    ['warm: strokes classified right', ...col((runs) => `${warm(runs).filter((w) => w.right).length}/${warm(runs).length}`)],
  ]);
  let failed = false;
  for (const { cfg, error } of results) {
    if (error) {
      console.log(`\n${cfg.name} failed: ${error}`);
      failed = true;
    }
  }
  process.exit(failed ? 1 : 0);
}

await main();
