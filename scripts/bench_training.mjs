#!/usr/bin/env node
// How fast the built page trains, with WebGPU (Chromium's SwiftShader where
// there is no GPU) and on the CPU fallback:
//
//   - digits: images per second at batch 32 from random weights (1 epoch,
//     no evaluation in the way), over --digit-steps steps after 10 warm-up
//     steps; and the page's own data-images-per-sec at the end;
//   - text: characters per second at batch 32, window 64 on the State of
//     the Union excerpt from random weights (no samples in the way), over
//     --text-steps steps after 3 warm-up steps; and the page's own
//     data-chars-per-sec.
//
// Each is measured --runs times, each run in a new browser; the table gives
// medians (with the range). Each round also runs the TensorFlow.js peer of
// ../shared/peers (peers/tfjs/run.js: the same CNN, an LSTM of the same
// size, batch 32, in the same Chromium with WebGPU, WebGL and its plain-JS
// CPU backend), so the ratios to it are taken within a round, as the
// machine was then, and their median reported beside the targets. Set the
// peer up once with `PEERS_HOME=/some/dir ../shared/peers/setup.sh` (its
// npm packages and data; this script reads PEERS_HOME too), or leave it out
// with --no-peers.
//
// Run by hand after a release build:
//
//   trunk build --release && node scripts/bench_training.mjs [--runs 3] [--digit-steps 60] [--text-steps 15]
//     [--only cpu|webgpu] [--profile] [--no-peers]
//
// Uses the same server, Chromium, flags and helpers as the page tests (all
// from tests/e2e/harness.mjs). Step times come from the page's own clock
// (performance.now() when #td-status / #tt-status shows a new data-step), so
// the cost of driving the browser from node stays out of them.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ANSWER_TIMEOUT_MS, CONFIGS, dist, launchPage, root, serve, show, until, exitWithFailures, median, table } from '../tests/e2e/harness.mjs';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'digit-steps': { type: 'string', default: '60' },
    'text-steps': { type: 'string', default: '15' },
    // Only these configs (names from CONFIGS, comma-separated): "cpu", "webgpu".
    only: { type: 'string', default: CONFIGS.map((c) => c.name).join(',') },
    // Also record a CPU profile of the page over the measured steps and
    // print the functions with the most self time (wasm functions by the
    // names in the module's name section).
    profile: { type: 'boolean', default: false },
    'no-peers': { type: 'boolean', default: false },
  },
});
const RUNS = Math.max(1, Number(opts.runs));
const DIGIT_STEPS = Math.max(1, Number(opts['digit-steps']));
const TEXT_STEPS = Math.max(1, Number(opts['text-steps']));
const ONLY = opts.only.split(',');
const PROFILE_TOP = 25;

// Steps before the measurement starts: the first ones compile pipelines and
// fill caches.
const DIGIT_WARM = 10;
const TEXT_WARM = 3;
const DIGIT_BATCH = 32;
const TEXT_BATCH = 32;
const TEXT_WINDOW = 64;

// The TensorFlow.js peer: its adapter, where its packages and data live
// (../shared/peers/setup.sh puts them there), the backends it is run on,
// and its metric for each of our tasks. Its LSTM reads 64 characters and
// predicts the next one (Keras' many-to-one); ours predicts after every
// character, so it does a little more work per character than the peer.
const PEERS_DIR = path.resolve(root, '../shared/peers');
const PEERS_HOME = process.env.PEERS_HOME ?? '/tmp/peers';
const TFJS_BACKENDS = [
  ['webgpu', 'WebGPU'],
  ['webgl', 'WebGL'],
  ['cpu', 'CPU'],
];
const TFJS_METRICS = { digits: 'cnn_train_img_s', text: 'lstm_train_tok_s' };
// A peer round: up to 60 s of digit and 30 s of text training per backend,
// plus loading and its inference measurements.
const PEER_TIMEOUT_MS = 20 * 60_000;
// What the page should reach, by config name (see CONFIGS).
const TARGETS = {
  digits: { webgpu: 310, cpu: 2_000 },
  text: { webgpu: 18_000, cpu: 60_000 },
};

// A cold start fetches and compiles the wasm, loads both models and, with
// WebGPU, compiles every pipeline: generous on a slow machine.
const READY_TIMEOUT_MS = 180_000;
// Bringing a run up: the first start fetches the training data.
const START_TIMEOUT_MS = 180_000;
// Per step, far above what a step should take, so only a stuck run times out:
// a digit step is about 1 s on SwiftShader; TF.js took 9 s per text step.
const DIGIT_STEP_TIMEOUT_MS = 10_000;
const TEXT_STEP_TIMEOUT_MS = 60_000;
// A paused run may finish the step it was taking: settled after this long.
const PAUSE_QUIET_MS = 2_000;

// How often a wait looks at the page.
const POLL_MS = 50;

// ---- Page runs ---------------------------------------------------------------

/**
 * Notes, on the page's clock, every new data-step of both training panels:
 * window.__steps.td / .tt hold [step, ms] pairs.
 */
function stepProbe() {
  const log = { td: [], tt: [] };
  window.__steps = log;
  for (const prefix of Object.keys(log)) {
    const el = document.getElementById(`${prefix}-status`);
    const note = () => {
      const step = Number(el.dataset.step);
      const last = log[prefix][log[prefix].length - 1];
      if (!last || last[0] !== step) log[prefix].push([step, performance.now()]);
    };
    note();
    new MutationObserver(note).observe(el, { attributes: true, attributeFilter: ['data-step'] });
  }
}

/** Sets a number input as a person does: typed, then committed on change. */
async function setNumber(page, selector, value) {
  const input = page.locator(selector);
  await input.fill(String(value));
  await input.dispatchEvent('change');
}

/**
 * Starts a run on panel `prefix` with `selects` and `numbers` (ids after the
 * prefix), lets it take `warm` steps, measures `steps` more and pauses it.
 * Returns items per second from the page's step times (`itemsPerStep` each)
 * and the page's own speed attribute `pageAttr` (a dataset name).
 */
async function measure(run, prefix, { selects, numbers, warm, steps, itemsPerStep, stepTimeout, pageAttr }) {
  const { page } = run;
  const waitFor = (what, fn, arg, timeout) =>
    until(run, what, fn, arg, { timeout, polling: POLL_MS, show: `#${prefix}-status, #${prefix}-message` });
  // The panels live in the page's sections: open this one's first.
  await show(page, { td: 'train', tt: 'text' }[prefix]);
  for (const [key, value] of Object.entries(selects)) await page.selectOption(`#${prefix}-${key}`, value);
  for (const [key, value] of Object.entries(numbers)) await setNumber(page, `#${prefix}-${key}`, value);
  await page.click(`#${prefix}-start`);
  await waitFor(
    `a ${prefix} run`,
    // A refused start stays idle with a problem under the panel.
    (prefix) =>
      ['running', 'stopped', 'done'].includes(document.querySelector(`#${prefix}-status`)?.dataset.state) ||
      document.querySelector(`#${prefix}-message`)?.dataset.kind === 'problem',
    prefix,
    START_TIMEOUT_MS,
  );
  const started = await page.locator(`#${prefix}-status`).getAttribute('data-state');
  if (started !== 'running') {
    const why = await page.locator(`#${prefix}-message`).evaluate((el) => el.textContent.trim());
    throw new Error(`${prefix} run ${started} after start: ${why}`);
  }
  const end = warm + steps;
  let profiler = null;
  if (opts.profile) {
    await waitFor(`${prefix} step ${warm}`, ([prefix, warm]) => Number(document.querySelector(`#${prefix}-status`)?.dataset.step) >= warm, [prefix, warm], (warm + 1) * stepTimeout);
    profiler = await page.context().newCDPSession(page);
    await profiler.send('Profiler.enable');
    await profiler.send('Profiler.setSamplingInterval', { interval: 100 });
    await profiler.send('Profiler.start');
  }
  await waitFor(
    `${prefix} step ${end}`,
    ([prefix, end]) => {
      const d = document.querySelector(`#${prefix}-status`)?.dataset;
      return Number(d?.step) >= end || ['stopped', 'done'].includes(d?.state);
    },
    [prefix, end],
    (end + 1) * stepTimeout,
  );
  const profile = profiler ? (await profiler.send('Profiler.stop')).profile : null;
  const status = await page.locator(`#${prefix}-status`).evaluate((el) => ({ ...el.dataset }));
  const message = await page.locator(`#${prefix}-message`).evaluate((el) => el.textContent.trim());
  if (Number(status.step) < end) throw new Error(`${prefix} run ${status.state} at step ${status.step}: ${message}`);
  const pageSpeed = Number(status[pageAttr]);

  const log = await page.evaluate((prefix) => window.__steps[prefix], prefix);
  const from = log.find(([s]) => s >= warm);
  const to = log.find(([s]) => s >= end);
  if (!from || !to || to[1] <= from[1]) throw new Error(`${prefix}: no step times in ${JSON.stringify(log.slice(-5))}`);
  const rate = itemsPerStep * (to[0] - from[0]) / ((to[1] - from[1]) / 1000);

  await page.click(`#${prefix}-pause`);
  await waitFor(
    `${prefix} paused, step settled`,
    ([prefix, quiet]) => {
      const d = document.querySelector(`#${prefix}-status`)?.dataset;
      const seen = (window.__settled ??= {});
      if (d?.state !== 'paused') return false;
      if (seen[prefix]?.step !== d.step) {
        seen[prefix] = { step: d.step, since: performance.now() };
        return false;
      }
      return performance.now() - seen[prefix].since >= quiet;
    },
    [prefix, PAUSE_QUIET_MS],
    ANSWER_TIMEOUT_MS + stepTimeout,
  );
  return { rate, pageSpeed, profile };
}

/** One run in a new browser: the digit measurement, then the text one. */
async function benchRun(cfg, url) {
  const run = await launchPage(cfg.args);
  const { page } = run;
  try {
    await page.goto(url);
    await until(run, '#app[data-ready="true"]', () => document.querySelector('#app')?.dataset.ready === 'true', null, {
      timeout: READY_TIMEOUT_MS,
      polling: POLL_MS,
      show: '#loading, #loading-progress, #app',
    });
    const backend = await page.locator('#app').getAttribute('data-backend');
    await page.evaluate(stepProbe);
    const digits = await measure(run, 'td', {
      selects: { from: 'random' },
      numbers: { batch: DIGIT_BATCH, epochs: 1, 'eval-every': 100_000 },
      warm: DIGIT_WARM,
      steps: DIGIT_STEPS,
      itemsPerStep: DIGIT_BATCH,
      stepTimeout: DIGIT_STEP_TIMEOUT_MS,
      pageAttr: 'imagesPerSec',
    });
    const text = await measure(run, 'tt', {
      selects: { source: 'sotu', from: 'random' },
      numbers: { batch: TEXT_BATCH, window: TEXT_WINDOW, steps: 1_000_000, 'sample-every': 100_000 },
      warm: TEXT_WARM,
      steps: TEXT_STEPS,
      itemsPerStep: TEXT_BATCH * TEXT_WINDOW,
      stepTimeout: TEXT_STEP_TIMEOUT_MS,
      pageAttr: 'charsPerSec',
    });
    return { backend, digits, text };
  } finally {
    await run.browser.close();
  }
}

// ---- The TensorFlow.js peer --------------------------------------------------

/** Why the peer cannot run here, or null when its adapter and packages are in place. */
function peerMissing() {
  const adapter = path.join(PEERS_DIR, 'peers/tfjs/run.js');
  if (!existsSync(adapter)) return `${adapter} missing`;
  const packages = path.join(PEERS_HOME, 'tfjs/node_modules/@tensorflow/tfjs');
  if (!existsSync(packages)) return `${packages} missing`;
  const data = path.join(process.env.PEERS_DATA ?? path.join(PEERS_HOME, 'data'), 'data.json');
  if (!existsSync(data)) return `${data} missing`;
  return null;
}

/**
 * One round of the peer: its adapter's JSON lines, as { webgpu: { digits,
 * text }, ... } in images/s and characters/s, NaN where a backend reported
 * an error (kept in `errors`).
 */
async function peerRound() {
  const child = spawn(
    process.execPath,
    [path.join(PEERS_DIR, 'peers/tfjs/run.js'), '--backends', TFJS_BACKENDS.map(([b]) => b).join(',')],
    { env: { ...process.env, PEERS_HOME }, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), PEER_TIMEOUT_MS);
  const code = await new Promise((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`TF.js peer exited with ${code}`);
  const round = Object.fromEntries(TFJS_BACKENDS.map(([b]) => [b, { digits: NaN, text: NaN, errors: [] }]));
  for (const line of out.split('\n')) {
    let r;
    try {
      r = JSON.parse(line);
    } catch {
      continue;
    }
    const slot = round[r.backend];
    if (!slot) continue;
    if (String(r.metric).startsWith('error')) slot.errors.push(`${r.metric}: ${String(r.value).slice(0, 120)}`);
    for (const [task, metric] of Object.entries(TFJS_METRICS)) if (r.metric === metric) slot[task] = Number(r.value);
  }
  return round;
}

// ---- Report ------------------------------------------------------------------

/**
 * The `PROFILE_TOP` functions of a CDP CPU profile with the most self time,
 * as [share, ms, name] rows (a function's nodes summed over its callers).
 */
function hottest(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] / 1000;
    const { functionName, url } = nodes.get(id).callFrame;
    const name = functionName || `(anonymous ${url.split('/').pop()})`;
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, PROFILE_TOP)
    .map(([name, ms]) => [`${((100 * ms) / total).toFixed(1)}%`, ms.toFixed(0), name.slice(0, 110)]);
}

const num = (x) => (Number.isFinite(x) ? (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1)) : '-');

/** Median with the range in brackets: "412 (398-420)". */
function spread(xs) {
  const ok = xs.filter(Number.isFinite);
  if (ok.length === 0) return '-';
  if (ok.length === 1) return num(ok[0]);
  return `${num(median(ok))} (${num(Math.min(...ok))}-${num(Math.max(...ok))})`;
}

/** "51.5x" of `value` against `ref`, or "-" where either is missing. */
const ratio = (value, ref) => (Number.isFinite(value) && ref ? `${(value / ref).toFixed(1)}x` : '-');

async function main() {
  if (!existsSync(path.join(dist, 'index.html'))) {
    console.error(`${dist}/index.html missing: run trunk build --release first`);
    process.exit(1);
  }
  const built = (await stat(path.join(dist, 'index.html'))).mtime;
  console.log(`neuralpad training benchmark: ${dist} (built ${built.toISOString().slice(0, 16).replace('T', ' ')})`);

  const withPeers = !opts['no-peers'];
  const missing = withPeers && peerMissing();
  if (missing) {
    console.error(
      `The TensorFlow.js peer is not set up (${missing}): ` +
        `PEERS_HOME=${PEERS_HOME} ${PEERS_DIR}/setup.sh, or --no-peers`,
    );
    process.exit(1);
  }

  // Rounds alternate: every config once, then the peer, so that each
  // round's ratios compare runs made under the same load.
  const site = await serve();
  const results = CONFIGS.filter((c) => ONLY.includes(c.name)).map((cfg) => ({ cfg, runs: [], error: null }));
  const peer = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const result of results) {
        if (result.error) continue;
        process.stderr.write(
          `${result.cfg.title}: run ${i + 1}/${RUNS}: ${DIGIT_STEPS} digit steps, then ${TEXT_STEPS} text steps\n`,
        );
        try {
          result.runs[i] = await benchRun(result.cfg, site.url);
        } catch (e) {
          result.error = `run ${i + 1}: ${e.message.split('\n')[0]}`;
        }
      }
      if (withPeers) {
        process.stderr.write(`TF.js: round ${i + 1}/${RUNS}: ${TFJS_BACKENDS.map(([, t]) => t).join(', ')}\n`);
        try {
          peer[i] = await peerRound();
        } catch (e) {
          console.error(`TF.js round ${i + 1} failed: ${e.message.split('\n')[0]}`);
        }
      }
    }
  } finally {
    site.close();
  }

  console.log(
    `\nTraining speed: median (min-max) of ${RUNS} run(s), each in a new browser; ` +
      `digits over ${DIGIT_STEPS} steps after ${DIGIT_WARM}, text over ${TEXT_STEPS} steps after ${TEXT_WARM}`,
  );
  const med = {};
  const rows = [
    [
      'backend',
      `digit images/s (batch ${DIGIT_BATCH})`,
      "page's data-images-per-sec",
      `text chars/s (${TEXT_BATCH}x${TEXT_WINDOW})`,
      "page's data-chars-per-sec",
    ],
  ];
  for (const { cfg, runs } of results) {
    const pick = (f) => runs.filter(Boolean).map(f);
    med[cfg.name] = {
      digits: median(pick((r) => r.digits.rate)),
      text: median(pick((r) => r.text.rate)),
    };
    const shown = runs[0]?.backend && runs[0].backend !== cfg.backend ? ` (page says ${runs[0].backend})` : '';
    rows.push([
      `${cfg.title}${shown}`,
      spread(pick((r) => r.digits.rate)),
      spread(pick((r) => r.digits.pageSpeed)),
      spread(pick((r) => r.text.rate)),
      spread(pick((r) => r.text.pageSpeed)),
    ]);
  }
  table(rows);

  if (withPeers) {
    const peerRows = [['TF.js 4.22', ...TFJS_BACKENDS.map(([, t]) => `${t} digit images/s`), ...TFJS_BACKENDS.map(([, t]) => `${t} text chars/s`)]];
    peer.forEach((round, i) =>
      peerRows.push([
        `round ${i + 1}`,
        ...TFJS_BACKENDS.map(([b]) => num(round?.[b].digits)),
        ...TFJS_BACKENDS.map(([b]) => num(round?.[b].text)),
      ]),
    );
    console.log('\nThe TensorFlow.js peer in the same rounds (../shared/peers/peers/tfjs; its LSTM predicts once per 64 characters)');
    table(peerRows);
    for (const [b, title] of TFJS_BACKENDS) {
      for (const e of new Set(peer.flatMap((r) => r?.[b].errors ?? []))) console.log(`  TF.js ${title}: ${e}`);
    }
  }

  console.log(
    withPeers
      ? '\nAgainst TF.js: the ratio in each round, then their median; and the targets'
      : '\nAgainst the targets (the TF.js peer left out)',
  );
  const vs = [
    ['', 'measured', ...(withPeers ? TFJS_BACKENDS.map(([, t]) => `x TF.js ${t}`) : []), 'target', ''],
  ];
  for (const { cfg, runs } of results) {
    for (const [task, label] of [
      ['digits', 'digit images/s'],
      ['text', 'text chars/s'],
    ]) {
      const value = med[cfg.name][task];
      const target = TARGETS[task][cfg.name];
      const perRound = ([b]) => {
        const ratios = runs
          .map((r, i) => (r && peer[i] ? r[task].rate / peer[i][b][task] : NaN))
          .filter(Number.isFinite);
        return ratios.length === 0
          ? '-'
          : `${ratios.map((x) => x.toFixed(1)).join(' / ')} (${median(ratios).toFixed(1)}x)`;
      };
      vs.push([
        `${cfg.title} ${label}`,
        num(value),
        ...(withPeers ? TFJS_BACKENDS.map(perRound) : []),
        target ? num(target) : '-',
        target && Number.isFinite(value) ? (value >= target ? 'met' : `below (${ratio(value, target)})`) : '',
      ]);
    }
  }
  table(vs);

  if (opts.profile) {
    for (const { cfg, runs } of results) {
      for (const task of ['digits', 'text']) {
        const profile = runs[0]?.[task].profile;
        if (!profile) continue;
        console.log(`\nWhere ${cfg.title} ${task} training spends its time (self time over the measured steps, run 1)`);
        table([['share', 'ms', 'function'], ...hottest(profile)]);
      }
    }
  }

  exitWithFailures(results);
}

await main();
