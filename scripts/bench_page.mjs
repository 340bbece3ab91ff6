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
// Uses the same server, Chromium, flags and digits as tests/e2e/page.test.mjs
// (all from tests/e2e/harness.mjs). Times come from the page's own clock
// (performance.now(), 0 at navigation start), so the cost of driving the
// browser from node stays out of them, except the drawing of the cold stroke
// itself, which happens after the canvas appears.
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { ANSWER_TIMEOUT_MS, CONFIGS, DIGITS, dist, draw, launchPage, serve, until, exitWithFailures, median, table } from '../tests/e2e/harness.mjs';

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
// A classification is final once #prediction and the bars have been quiet
// this long (or three times the page's last latency, if longer): the page
// answers at each animation frame while a stroke is drawn.
const QUIET_MS = 500;

// How often a wait looks at the page.
const POLL_MS = 50;

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
 * One cold load in a new browser: one stroke as soon as the canvas exists,
 * then the first prediction. With `strokes` > 0 it goes on, warm, with that
 * many drawings, each on a cleared canvas.
 */
async function coldRun(cfg, url, strokes) {
  const run = await launchPage(cfg.args);
  const { page } = run;
  const waitFor = (what, fn, arg, timeout) => until(run, what, fn, arg, { timeout, polling: POLL_MS });
  try {
    await page.addInitScript(pageProbe);
    // 'commit': return as soon as the navigation starts, so the stroke goes
    // in the moment the canvas exists, not after the load event.
    await page.goto(url, { waitUntil: 'commit' });
    await waitFor('#draw-canvas', () => document.getElementById('draw-canvas') !== null, null, READY_TIMEOUT_MS);
    await draw(page, DIGITS[0][1]);
    await waitFor(
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
      await waitFor(
        'empty #prediction after #clear',
        () => document.querySelector('#prediction')?.dataset.state === 'empty',
        null,
        ANSWER_TIMEOUT_MS,
      );
      const since = await page.evaluate(() => window.__bench.watch.changes);
      await draw(page, shape);
      await waitFor(
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
    await run.browser.close();
  }
}

// ---- Report ------------------------------------------------------------------

const ms = (x) => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '-');

function bytes(n) {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
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

  const site = await serve();
  const results = [];
  try {
    for (const cfg of CONFIGS) {
      const runs = [];
      let error = null;
      for (let i = 0; i < COLD_RUNS && !error; i++) {
        process.stderr.write(`${cfg.title}: cold load ${i + 1}/${COLD_RUNS}${i === 0 ? `, then ${STROKE_RUNS} strokes` : ''}\n`);
        try {
          // The warm strokes go in the first load's page, after its cold numbers.
          runs.push(await coldRun(cfg, site.url, i === 0 ? STROKE_RUNS : 0));
        } catch (e) {
          error = `cold load ${i + 1}: ${e.message.split('\n')[0]}`;
        }
      }
      results.push({ cfg, runs, error });
    }
  } finally {
    site.close();
  }

  console.log(`\nTimes in ms: cold = median of ${COLD_RUNS} loads, each in a new browser; warm = ${STROKE_RUNS} strokes, median (min-max)`);
  const col = (f) => results.map(({ runs }) => (runs.length ? f(runs) : '-'));
  const warm = (runs) => runs[0].warm;
  table([
    ['', ...results.map((r) => r.cfg.title)],
    ['backend (#app data-backend)', ...col((runs) => runs[0].backend ?? '?')],
    ['cold: navigation -> canvas', ...col((runs) => ms(median(runs.map((r) => r.canvas))))],
    ['cold: navigation -> data-ready', ...col((runs) => ms(median(runs.map((r) => r.ready))))],
    ['cold: navigation -> first prediction', ...col((runs) => ms(median(runs.map((r) => r.prediction))))],
    ['warm: last pointer event -> bars', ...col((runs) => spread(warm(runs).map((w) => w.latencyMs)))],
    ['warm: network (data-net-ms)', ...col((runs) => spread(warm(runs).map((w) => w.netMs)))],
    ['warm: strokes classified right', ...col((runs) => `${warm(runs).filter((w) => w.right).length}/${warm(runs).length}`)],
  ]);
  exitWithFailures(results);
}

await main();
