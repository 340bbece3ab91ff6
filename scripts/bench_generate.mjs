#!/usr/bin/env node
// Milliseconds per generated character in the page, for the LSTM and the
// Transformer, with WebGPU (SwiftShader where there is no GPU) and on the
// CPU fallback: "continue" on one prompt, --runs times per model, each
// time read from the page's own clock (#generated's data-ms-per-char: the
// Generate job's time over the characters it wrote, so driving the browser
// from node stays out of it). Prints the median and the range.
//
// Run by hand after a release build:
//
//   trunk build --release && node scripts/bench_generate.mjs [--runs 3]
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CONFIGS, dist, exitWithFailures, launchPage, median, serve, show, table, until } from '../tests/e2e/harness.mjs';

const { values: opts } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const RUNS = Math.max(1, Number(opts.runs));
const READY_TIMEOUT_MS = 180_000;
const GENERATE_TIMEOUT_MS = 300_000;
const PROMPT = 'The state of the union is';
const MODELS = ['lstm', 'transformer'];

/** One browser: each model's ms per character over RUNS continuations. */
async function measure(cfg, url) {
  const run = await launchPage(cfg.args);
  try {
    const { page } = run;
    await page.goto(`${url}#text`);
    await until(run, '#app[data-ready="true"]', () => document.querySelector('#app')?.dataset.ready === 'true', null, {
      timeout: READY_TIMEOUT_MS,
    });
    await show(page, 'text');
    await page.fill('#text-input', PROMPT);
    await page.locator('#text-input').dispatchEvent('input');
    const out = {};
    for (const model of MODELS) {
      await page.selectOption('#text-model', model);
      await until(run, `#text-model on ${model}`, (m) => {
        const sel = document.querySelector('#text-model');
        return sel?.dataset.model === m && !sel.disabled;
      }, model, { timeout: READY_TIMEOUT_MS });
      out[model] = [];
      for (let i = 0; i < RUNS; i++) {
        // A new seed each time, so the page cannot answer from what it has.
        await page.fill('#seed', String(i + 1));
        await page.locator('#seed').dispatchEvent('change');
        const before = await page.locator('#generated').textContent();
        await page.click('#continue');
        // Done when the text is new and the button is back.
        await until(run, `${model} continuation ${i + 1}`, (b) => {
          const g = document.querySelector('#generated');
          return g?.textContent !== b && !!g?.dataset.msPerChar && !document.querySelector('#continue').disabled;
        }, before, { timeout: GENERATE_TIMEOUT_MS });
        out[model].push(Number(await page.locator('#generated').getAttribute('data-ms-per-char')));
        process.stderr.write(`${cfg.title} ${model}: ${out[model].at(-1)} ms/char\n`);
      }
    }
    return out;
  } finally {
    await run.browser.close();
  }
}

async function main() {
  if (!existsSync(path.join(dist, 'index.html'))) {
    console.error(`${dist}/index.html missing: run trunk build --release first`);
    process.exit(1);
  }
  const site = await serve();
  const results = [];
  try {
    for (const cfg of CONFIGS) {
      try {
        results.push({ cfg, ms: await measure(cfg, site.url) });
      } catch (e) {
        results.push({ cfg, error: e.message.split('\n')[0] });
      }
    }
  } finally {
    site.close();
  }
  const cell = (r, m) => {
    const xs = r.ms?.[m];
    if (!xs?.length) return '-';
    return `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`;
  };
  console.log(`\nms per generated character in the page: median (min-max) of ${RUNS} continuations`);
  table([['', ...results.map((r) => r.cfg.title)], ...MODELS.map((m) => [m, ...results.map((r) => cell(r, m))])]);
  exitWithFailures(results);
}

await main();
