#!/usr/bin/env node
// Training steps per second of every preset network in the page's lab, with
// WebGPU (Chromium's SwiftShader where there is no GPU) and on the CPU
// fallback: each preset picked from the lab's menu as its only network,
// trained --steps steps at batch 32 (digits on the page's MNIST, text on
// the State of the Union excerpt, window 64), one browser per backend. The
// figure is the lab's own "ms per step" (the engine's clock around each
// step, recorded to read back, the first step left out), so the cost of
// driving the browser from node stays out of it.
//
// Run by hand after a release build:
//
//   trunk build --release && node scripts/bench_lab.mjs [--steps 20] [--only seed-cnn,rnn-128]
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CONFIGS, dist, launchPage, serve, table, until } from '../tests/e2e/harness.mjs';

const { values: opts } = parseArgs({
  options: {
    steps: { type: 'string', default: '20' },
    only: { type: 'string', default: '' },
  },
});
const STEPS = Math.max(2, Number(opts.steps));
const ONLY = opts.only ? opts.only.split(',') : null;
const TIMEOUT_MS = 1_800_000;

if (!existsSync(path.join(dist, 'index.html'))) {
  console.error('dist/index.html is missing: run trunk build --release first');
  process.exit(1);
}

async function setValue(page, selector, value) {
  await page.locator(selector).fill(String(value));
  await page.locator(selector).dispatchEvent('change');
}

/** Trains `preset` alone in the lab; the lab's ms per step. */
async function measure(run, task, preset) {
  const { page } = run;
  await page.check(`#lab-task-${task}`);
  await page.click('#lab-variant-0');
  while ((await page.locator('.variant-tab').count()) > 1) {
    await page.click('#lab-variant-1');
    await page.click('#lab-remove-variant');
  }
  await page.selectOption('#lab-preset', preset);
  await setValue(page, '#lab-steps', STEPS);
  await setValue(page, '#lab-eval-every', STEPS);
  await page.click('#lab-train');
  await until(run, `${preset} trained`, () => ['done', 'stopped'].includes(document.querySelector('#lab-status')?.dataset.state), null, {
    timeout: TIMEOUT_MS,
    show: '#lab-status, #lab-message',
  });
  const message = await page.locator('#lab-message').innerText();
  if (message.trim()) throw new Error(`${preset}: ${message}`);
  return Number(await page.locator('#lab-runs tbody tr td.value').nth(2).innerText());
}

const site = await serve();
const rows = [['network', ...CONFIGS.map((c) => `${c.title} steps/s`), ...CONFIGS.map((c) => `${c.title} ms/step`)]];
const results = {};
try {
  for (const cfg of CONFIGS) {
    const run = await launchPage(cfg.args);
    try {
      await run.page.goto(`${site.url}#lab`);
      await until(run, 'the page ready', () => document.querySelector('#app')?.dataset.ready === 'true', null, { timeout: 120_000 });
      for (const task of ['digits', 'text']) {
        await run.page.check(`#lab-task-${task}`);
        const presets = await run.page.$$eval('#lab-preset option', (os) => os.map((o) => o.value).filter(Boolean));
        for (const preset of presets.filter((p) => !ONLY || ONLY.includes(p))) {
          const ms = await measure(run, task, preset);
          (results[preset] ??= { task })[cfg.name] = ms;
          console.log(`${cfg.title} ${preset}: ${ms.toFixed(1)} ms per step`);
        }
      }
    } finally {
      await run.browser.close();
    }
  }
} finally {
  site.close();
}
for (const [preset, r] of Object.entries(results)) {
  rows.push([
    `${preset} (${r.task})`,
    ...CONFIGS.map((c) => (r[c.name] ? (1000 / r[c.name]).toFixed(1) : '-')),
    ...CONFIGS.map((c) => (r[c.name] ? r[c.name].toFixed(1) : '-')),
  ]);
}
console.log(`\nlab training, batch 32, ${STEPS} steps per preset (the first left out)`);
table(rows);
