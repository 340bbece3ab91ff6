// A person's own classes, end to end, once per backend of the page: three
// classes (✓ ✗ ○) drawn with the mouse on the page's own pad, trained by
// transfer in the page, the held-out drawings and the confusion matrix
// shown, a new drawing tested; then the model published to a real
// `neuralpad serve` (the binary `cargo test` builds, on a temporary store),
// its link, QR code and snippets shown; the link opened in a new browser
// must load the model and give the same drawing the same probabilities.
// The drawings are exported and imported into the other browser, they and
// the model come back after a reload, the server's gallery lists the model,
// and deleting it from the page removes it from the server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { CONFIGS, arc, artifacts, assertAccessible, draw, launchPage, polyline, root, serveForTests, show, until } from './harness.mjs';

const site = serveForTests();
const READY_TIMEOUT_MS = 120_000;
const RUN_TIMEOUT_MS = 12 * 60_000;
const TRAIN_TIMEOUT_MS = 6 * 60_000;
const BINARY = path.join(root, 'target/debug/neuralpad');
const STORE = path.join(os.tmpdir(), `neuralpad-e2e-own-${process.pid}.db`);

const server = {};

before(async () => {
  assert.ok(existsSync(BINARY), `${BINARY} missing: cargo test builds it`);
  const args = ['serve', '--port', '0', '--backend', 'cpu', '--eval-images', '0', '--database', `sqlite:${STORE}`];
  const child = spawn(BINARY, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  server.child = child;
  server.url = await new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`neuralpad serve exited (${code}) before listening`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = line.match(/^listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
  });
});
after(() => {
  server.child?.kill('SIGTERM');
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${STORE}${suffix}`, { force: true });
});

// ---- Shapes a person draws, each a little different every time ----------

/** `strokes` moved by (dx, dy) and scaled by `k` about the pad's centre. */
function vary(strokes, dx, dy, k) {
  return strokes.map((s) => s.map(([x, y]) => [140 + (x - 140) * k + dx, 140 + (y - 140) * k + dy]));
}

const SHAPES = [
  ['✓', [polyline([[62, 150], [118, 218], [226, 62]])]],
  ['✗', [polyline([[70, 70], [212, 212]]), polyline([[212, 70], [70, 212]])]],
  ['○', [polyline(arc(140, 140, 82, 82, -90, 275, 48))]],
];
/** The k-th drawing of a shape: five different ones, then round again. */
const VARIATIONS = [
  [0, 0, 1],
  [-18, 10, 0.85],
  [15, -12, 0.9],
  [8, 16, 1.05],
  [-10, -15, 0.8],
];
const PER_CLASS = 5;

/** #probs (the digit pad's bars) as numbers, and their labels. */
const bars = (page, selector) =>
  page.$$eval(`${selector} .bar`, (els) => els.map((b) => [b.querySelector('.label').innerText, Number(b.getAttribute('data-p'))]));

/** The 28x28 input the digit network read (#model-input, under "Draw"), as grey levels. */
const modelInput = (page) =>
  page.$eval('#model-input', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    return Array.from({ length: d.length / 4 }, (_, i) => d[4 * i]);
  });

/** Polls `read` until it gives the same non-empty answer `times` in a row. */
async function settled(run, what, read, times = 4) {
  const deadline = Date.now() + 60_000;
  let last = '';
  let same = 0;
  while (Date.now() < deadline) {
    const now = JSON.stringify(await read());
    same = now === last && now !== '[]' ? same + 1 : 0;
    if (same >= times) return JSON.parse(now);
    last = now;
    await Promise.race([new Promise((r) => setTimeout(r, 250)), run.broken]);
  }
  assert.fail(`${what} did not settle: ${last}\n${run.problems.join('\n')}`);
}

async function ready(run, url) {
  await run.page.goto(url);
  await until(run, 'ready page', () => document.querySelector('#app')?.getAttribute('data-ready') === 'true', null, {
    timeout: READY_TIMEOUT_MS,
  });
}

/** The server's address, set where a person sets it (under "Service"), then back to "Your classes". */
async function setServer(page, url) {
  await show(page, 'service');
  await page.locator('#server-address').fill(url);
  await page.locator('#server-address').dispatchEvent('change');
  await show(page, 'own');
}

/** Screenshots of `selector` at the desktop width and at 390 px. */
async function shots(page, name, selectors) {
  for (const [width, tag] of [
    [1280, 'desktop'],
    [390, '390px'],
  ]) {
    await page.setViewportSize({ width, height: 900 });
    for (const sel of selectors) {
      const el = page.locator(sel);
      await el.scrollIntoViewIfNeeded();
      await el.screenshot({ path: path.join(artifacts, `${name}-${sel.slice(1)}-${tag}.png`) });
    }
  }
  await page.setViewportSize({ width: 1280, height: 800 });
}

for (const config of CONFIGS) {
  test(`${config.label}: own classes drawn, trained, published, opened from the link`, { timeout: RUN_TIMEOUT_MS }, async (t) => {
    const run = await launchPage(config.args);
    t.after(() => run.browser.close());
    const { page } = run;
    const context = page.context();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(site.url).origin });
    await ready(run, site.url);
    await setServer(page, server.url);
    // A fresh start: nothing kept from another test in this profile.
    assert.equal(await page.locator('#own-class-list li').count(), 2, 'two classes to start with');

    // Three classes: ✓ and ✗ are there; a third is added and named ○.
    await page.locator('#own-add-class').click();
    await page.locator('#own-name-0').fill('✓');
    await page.locator('#own-name-0').dispatchEvent('change');
    await page.locator('#own-name-2').fill('○');
    await page.locator('#own-name-2').dispatchEvent('change');

    // Too few drawings: the run is refused with a message that says so.
    await page.locator('#own-start').click();
    await until(run, 'a refusal', () => /has 0 drawings/.test(document.querySelector('#own-message')?.innerText ?? ''), null, {
      show: '#own-message, #own-status',
    });

    // Five drawings of each, added one by one (the pad clears after each).
    for (let k = 0; k < PER_CLASS; k++) {
      for (let c = 0; c < SHAPES.length; c++) {
        await draw(page, vary(SHAPES[c][1], ...VARIATIONS[k]), '#own-canvas');
        await until(run, 'the drawing ready to add', (c) => !document.querySelector(`#own-add-${c}`)?.disabled, c);
        await page.locator(`#own-add-${c}`).click();
        await until(run, 'the drawing added', ([c, n]) => document.querySelector(`.own-class[data-class="${c}"]`)?.getAttribute('data-count') === String(n), [c, k + 1]);
      }
    }
    assert.equal(await page.locator('.thumb.held').count(), 3, 'one drawing of each class kept aside');

    // Now it trains.
    await page.locator('#own-start').click();
    await until(run, 'the run finished', () => document.querySelector('#own-status')?.getAttribute('data-state') === 'done', null, {
      timeout: TRAIN_TIMEOUT_MS,
      show: '#own-status, #own-message',
    });
    const status = page.locator('#own-status');
    assert.equal(await status.getAttribute('data-held-out'), '3');
    const right = Number(await status.getAttribute('data-right'));
    assert.ok(right >= 2, `only ${right} of the 3 held-out drawings right`);
    assert.equal(await page.locator('#own-per-class li').count(), 3);
    assert.equal(await page.locator('#own-confusion td').count(), 9);
    const heads = await page.locator('#own-confusion thead th').allInnerTexts();
    assert.deepEqual(heads.slice(1), ['✓', '✗', '○']);

    // A new drawing of ✗ is answered ✗ on the pad.
    await draw(page, vary(SHAPES[1][1], 4, -4, 0.95), '#own-canvas');
    await until(run, 'the pad answered ✗', () => document.querySelector('#own-prediction')?.getAttribute('data-class') === '1', null, {
      show: '#own-prediction, #own-probs',
    });

    // Into the digit pad, where the same strokes will be drawn in the other
    // browser: the page goes to "Draw" with it.
    await page.locator('#own-use').click();
    await page.waitForFunction(() => document.querySelector('#app')?.dataset.section === 'draw' && window.scrollY === 0);
    await until(run, 'the digit pad asks the own model', () => document.querySelectorAll('#probs .bar').length === 3, null, { show: '#probs, #own-note' });
    const test = vary(SHAPES[0][1], 6, 4, 0.92);
    await draw(page, test);
    const here = await settled(run, 'the digit pad answering with the own model', () => bars(page, '#probs'));
    assert.deepEqual(here.map(([l]) => l), ['✓', '✗', '○']);
    const inputHere = await modelInput(page);
    assert.equal(here.reduce((best, b, i) => (b[1] > here[best][1] ? i : best), 0), 0, `✓ not the answer: ${JSON.stringify(here)}`);

    // Published: the link, its QR code, the snippets and the token.
    await show(page, 'own');
    await page.locator('#publish-name').fill('Shapes ✓ ✗ ○');
    await page.locator('#publish-name').dispatchEvent('change');
    await page.locator('#publish-button').click();
    await until(run, 'the model published', () => document.querySelector('#publish-result') !== null, null, { show: '#publish' });
    const id = await page.locator('#publish-result').getAttribute('data-id');
    const link = await page.locator('#publish-link').getAttribute('href');
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(link, `${site.url}?model=${server.url}/${id}`);
    assert.ok(await page.locator('#publish-qr svg path').count(), 'no QR code');
    for (const lang of ['curl', 'python', 'javascript']) {
      const code = await page.locator(`#snippet-${lang}`).innerText();
      assert.ok(code.includes(`${server.url}/v1/models/${id}/classify`), `${lang}: ${code}`);
    }
    assert.ok((await page.locator('#publish-token').innerText()).length >= 43);
    await page.locator('#publish-copy-link').click();
    await until(run, 'the link copied', () => document.querySelector('#publish-copy-link')?.innerText === 'Copied');
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);
    const info = await (await fetch(`${server.url}/v1/models/${id}`)).json();
    assert.equal(info.name, 'Shapes ✓ ✗ ○');
    assert.deepEqual(info.classes, ['✓', '✗', '○']);

    // The drawings as one file, for the other browser.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#own-export').click()]);
    const file = path.join(artifacts, `own-classes-${config.name}.json`);
    await download.saveAs(file);
    const exported = JSON.parse(readFileSync(file, 'utf8'));
    assert.deepEqual(exported.classes, ['✓', '✗', '○']);
    assert.equal(exported.examples.length, 3 * PER_CLASS);

    await shots(page, `own-${config.name}`, ['#own', '#publish']);
    await assertAccessible(page, '#own');
    await assertAccessible(page, '#publish');

    // The link in a new browser: the model loads into the drawing pad, and
    // the same strokes get the same probabilities.
    const other = await launchPage(config.args);
    t.after(() => other.browser.close());
    await ready(other, link);
    await until(other, 'the published model loaded', () => document.querySelector('#model-notice')?.getAttribute('data-state') === 'loaded', null, {
      show: '#model-notice',
    });
    assert.match(await other.page.locator('#model-notice').innerText(), /Shapes ✓ ✗ ○/);
    await draw(other.page, test);
    const there = await settled(other, 'the linked model answering', () => bars(other.page, '#probs'));
    assert.deepEqual(there.map(([l]) => l), ['✓', '✗', '○']);
    const inputThere = await modelInput(other.page);
    const differ = inputHere.filter((v, i) => v !== inputThere[i]).length;
    const ascii = (px) => Array.from({ length: 28 }, (_, r) => px.slice(28 * r, 28 * r + 28).map((v) => ' .:-=+*#%@'[Math.min(9, v >> 5)]).join('')).join('\n');
    if (differ) console.log(`here:\n${ascii(inputHere)}\nthere:\n${ascii(inputThere)}`);
    for (let i = 0; i < 3; i++) {
      assert.ok(
        Math.abs(there[i][1] - here[i][1]) < 1e-5,
        `class ${i}: ${there[i][1]} there, ${here[i][1]} here (${JSON.stringify(there)} / ${JSON.stringify(here)}); ${differ} of the 784 input pixels differ`,
      );
    }

    await assertAccessible(other.page, '#model-notice');

    // The gallery there lists it; the drawings import there.
    await show(other.page, 'own');
    await other.page.locator('#gallery-refresh').click();
    await until(other, 'the gallery', (id) => document.querySelector(`#gallery-list li[data-id="${id}"]`) !== null, id, { show: '#gallery' });
    await other.page.locator('#own-import').setInputFiles(file);
    await until(other, 'the drawings imported', () => [...document.querySelectorAll('.own-class')].map((li) => li.getAttribute('data-count')).join() === '5,5,5', null, {
      show: '#own-note, #own-class-list',
    });
    await shots(other.page, `own-link-${config.name}`, ['#model-notice', '#gallery']);
    await assertAccessible(other.page, '#gallery');

    // Back in the first browser: a reload keeps the drawings and the model.
    await ready(run, site.url);
    await show(page, 'own');
    await until(run, 'the drawings kept', () => [...document.querySelectorAll('.own-class')].map((li) => li.getAttribute('data-count')).join() === '5,5,5', null, {
      show: '#own-class-list',
    });
    await until(run, 'the model kept', () => document.querySelector('#own-status')?.getAttribute('data-model') === 'yes', null, { show: '#own' });
    await draw(page, vary(SHAPES[2][1], 0, 0, 1), '#own-canvas');
    await until(run, 'the kept model answering ○', () => document.querySelector('#own-prediction')?.getAttribute('data-class') === '2', null, {
      show: '#own-prediction',
    });

    // Deleting it through the gallery (this browser kept its token).
    await setServer(page, server.url);
    await page.locator('#gallery-refresh').click();
    await until(run, 'the gallery marks it as ours', (id) => document.querySelector(`#gallery-list li[data-id="${id}"]`)?.getAttribute('data-mine') === 'true', id, {
      show: '#gallery',
    });
    await page.locator(`#gallery-list li[data-id="${id}"] .gallery-delete`).click();
    await until(run, 'the model gone from the gallery', (id) => document.querySelector(`#gallery-list li[data-id="${id}"]`) === null, id, { show: '#gallery, #publish-message' });
    assert.equal((await fetch(`${server.url}/v1/models/${id}`)).status, 404);

    const fatal = [...run.problems, ...other.problems].filter((p) => p.startsWith('uncaught:') || p.includes('panicked at'));
    assert.deepEqual(fatal, [], run.problems.join('\n'));
  });
}
