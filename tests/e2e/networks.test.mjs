// Networks as data in the page: weights files of other networks than the
// seed's, made by the command line (`neuralpad train ... --network PRESET`,
// the binary `cargo test` built), uploaded into the page with WebGPU and
// without. The page must take each file's network from its metadata, draw
// the inside view of whatever layers it has, answer with it, and train it:
//
//   - tiny-cnn (one convolution of 8 filters, max pooling, ten outputs):
//     the inside view shows its two layers and no more, a drawn 1 is read
//     by it, and 60 steps from random weights of the same network in the
//     training panel pass 60% on the test images;
//   - gru-128 trained on a small text: the text pad names the GRU, reads
//     typed text with it (next characters, the gate heatmap), and pasted
//     text trains it 20 steps.
//
// scripts/test runs this with the other page tests.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CONFIGS, DIGITS, artifacts, draw, launchPage, root, serveForTests, show, until } from './harness.mjs';

const BINARY = path.join(root, 'target/debug/neuralpad');
const READY_TIMEOUT_MS = 120_000;
const TRAIN_TIMEOUT_MS = 400_000;
const STROKES = Object.fromEntries(DIGITS);
const TEXT = 'The Congress shall have power to lay and collect taxes, duties, imposts and excises. '.repeat(40);

const site = serveForTests();
const files = {};

before(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'neuralpad-networks-'));
  const corpus = path.join(dir, 'corpus.txt');
  await writeFile(corpus, TEXT);
  const run = promisify(execFile);
  files.tiny = path.join(dir, 'tiny.safetensors');
  await run(BINARY, ['train', 'mnist', '--network', 'tiny-cnn', '--backend', 'cpu', '--epochs', '1', '--max-steps', '300', '--out', files.tiny]);
  files.gru = path.join(dir, 'gru.safetensors');
  await run(BINARY, ['train', 'text', '--network', 'gru-128', '--backend', 'cpu', '--corpus', corpus, '--max-steps', '40', '--batch', '8', '--window', '32', '--out', files.gru]);
});

async function waitReady(run) {
  await until(run, '#app[data-ready="true"]', () => document.querySelector('#app')?.dataset.ready === 'true', null, {
    timeout: READY_TIMEOUT_MS,
    show: '#loading-progress, #app',
  });
}

/** Uploads `file` into the weights panel; returns #weights-message's kind and text. */
async function upload(run, file) {
  await show(run.page, 'service');
  const buffer = await readFile(file);
  await run.page.evaluate(() => document.querySelector('#weights-message')?.removeAttribute('data-kind'));
  await run.page.setInputFiles('#weights-upload', { name: path.basename(file), mimeType: 'application/octet-stream', buffer });
  await until(run, `#weights-message for ${file}`, () => ['ok', 'error'].includes(document.querySelector('#weights-message')?.dataset.kind), null, {
    show: '#weights-message',
  });
  return run.page.locator('#weights-message').evaluate((el) => ({ kind: el.dataset.kind, text: el.innerText.trim() }));
}

async function setNumber(page, selector, value) {
  await page.locator(selector).fill(String(value));
  await page.locator(selector).dispatchEvent('change');
}

function assertNoPanic(problems) {
  const fatal = problems.filter((p) => p.startsWith('uncaught:') || p.includes('panicked at'));
  assert.deepEqual(fatal, [], `page errors:\n${problems.join('\n')}`);
}

for (const cfg of CONFIGS) {
  test(`${cfg.label}: a tiny CNN's file is drawn, answers and trains as its own network`, { timeout: READY_TIMEOUT_MS + TRAIN_TIMEOUT_MS + 120_000 }, async (t) => {
    const run = await launchPage(cfg.args);
    t.after(() => run.browser.close());
    const { page } = run;
    await page.goto(site.url);
    await waitReady(run);
    try {
      const loaded = await upload(run, files.tiny);
      assert.equal(loaded.kind, 'ok', loaded.text);
      await show(page, 'inside');
      await until(run, 'the tiny CNN in #inside-picture', () => /8 3x3 relu/.test(document.querySelector('#inside-picture-layer-0')?.textContent ?? ''), null, {
        show: '#inside-picture',
      });
      assert.equal(await page.locator('#inside-picture-layer-0').getAttribute('data-shape'), '26×26×8');
      // The picture is the view's map: a layer picked is brought into view.
      await page.click('#inside-picture-layer-1');
      await until(run, '#inside&layer=1 in the address', () => location.hash === '#inside&layer=1');
      await until(run, 'layer 1 in view', () => {
        const r = document.querySelector('#layer-1-maps')?.getBoundingClientRect();
        return r && r.top >= 0 && r.top < innerHeight;
      });
      assert.equal(await page.locator('#layer-0-maps').count(), 1, 'layer 0 (the convolution) is drawn');
      assert.equal(await page.locator('#layer-1-maps').count(), 1, 'layer 1 (max pooling) is drawn');
      assert.equal(await page.locator('#layer-2-maps').count(), 0, 'flatten has no picture of its own');
      assert.match(await page.locator('#inside').innerText(), /8 feature maps, 26×26/);

      await draw(page, STROKES['1']);
      await until(run, 'a prediction by the tiny CNN', () => document.querySelector('#prediction')?.dataset.state === 'ready', null, { show: '#prediction' });
      await until(run, 'the tiny CNN reads a 1', () => document.querySelector('#prediction')?.dataset.digit === '1', null, { show: '#prediction, #probs' });

      // Training from random weights keeps the uploaded network.
      await show(page, 'train');
      await page.selectOption('#td-from', 'random');
      await setNumber(page, '#td-epochs', 1);
      await setNumber(page, '#td-eval-every', 60);
      await page.click('#td-start');
      await until(run, 'an evaluation after 60 steps', () => Number(document.querySelector('#td-status')?.dataset.evalStep) >= 60, null, {
        timeout: TRAIN_TIMEOUT_MS,
        show: '#td-status, #td-message',
      });
      const st = await page.locator('#td-status').evaluate((el) => ({ ...el.dataset }));
      assert.ok(Number(st.accuracy) > 0.6, `accuracy ${st.accuracy} after 60 steps of the tiny CNN`);
      await page.click('#td-pause');
      await show(page, 'inside');
      assert.match(await page.locator('#inside-picture-layer-0').innerText(), /8 3x3 relu/, 'training kept the network');
    } finally {
      await page.locator('#inside').screenshot({ path: path.join(artifacts, `networks-tiny-cnn-${cfg.name}.png`) }).catch(() => {});
    }
    assertNoPanic(run.problems);
  });

  test(`${cfg.label}: a GRU's file reads typed text and trains on pasted text`, { timeout: READY_TIMEOUT_MS + TRAIN_TIMEOUT_MS + 120_000 }, async (t) => {
    const run = await launchPage(cfg.args);
    t.after(() => run.browser.close());
    const { page } = run;
    await page.goto(site.url);
    await waitReady(run);
    try {
      const loaded = await upload(run, files.gru);
      assert.equal(loaded.kind, 'ok', loaded.text);
      await show(page, 'text');
      await until(run, 'the GRU in #text-network', () => /gru 128/.test(document.querySelector('#text-network')?.textContent ?? ''), null, {
        show: '#text-network',
      });
      await page.locator('#text-input').click();
      await page.keyboard.type('The Congress shall have ');
      await until(run, 'next characters from the GRU', () => document.querySelectorAll('#next-chars li').length > 0, null, { show: '#next-chars' });
      await until(run, 'the gate heatmap', () => Number(document.querySelector('#gate-heatmap')?.dataset.chars) > 0, null, { show: '#gate-heatmap' });

      await page.selectOption('#tt-source', 'pasted');
      await page.selectOption('#tt-from', 'random');
      await page.locator('#tt-paste').fill(TEXT);
      await page.locator('#tt-paste').dispatchEvent('change');
      await setNumber(page, '#tt-steps', 20);
      await setNumber(page, '#tt-batch', 8);
      await setNumber(page, '#tt-window', 32);
      await page.click('#tt-start');
      await until(run, '20 text steps', () => document.querySelector('#tt-status')?.dataset.state === 'done', null, {
        timeout: TRAIN_TIMEOUT_MS,
        show: '#tt-status, #tt-message',
      });
      const st = await page.locator('#tt-status').evaluate((el) => ({ ...el.dataset }));
      assert.equal(st.step, '20', JSON.stringify(st));
      assert.match(await page.locator('#text-network').innerText(), /gru 128/, 'training kept the network');
    } finally {
      await page.locator('#text').screenshot({ path: path.join(artifacts, `networks-gru-${cfg.name}.png`) }).catch(() => {});
    }
    assertNoPanic(run.problems);
  });
}
