// "Why this answer" in a real headless Chromium, with WebGPU and without,
// as a student uses it:
//
//   - draws a 7: once the drawing rests, the saliency map of the digit read
//     appears over the model input, with its scale; "and not 1" and
//     gradient x input and occlusion each give another map;
//   - "make it a 1": gradient steps on the drawing until the network reads
//     1 (at most 200), reported with the steps and the size of the change,
//     and the page's own answer for the drawing is unchanged;
//   - types text and asks which characters mattered: every typed character
//     is highlighted with its influence, by gradient and by occlusion;
//   - reads the gates: labelled bands (i, f, g, o, c), a cell named in
//     words by the pointer, the ten most active units, one unit traced
//     over the text, by the mouse and the keyboard;
//   - takes one training step from random weights and points at a conv1
//     and an fc2 weight: the gradient's dy·x products add up to the
//     kernel's gradient, and Adam's read-back moments and bias
//     corrections give the weight's read-back new value;
//   - axe-core finds nothing in any of these parts.
//
// scripts/test runs this with the other page tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CONFIGS, DIGITS, artifacts, assertAccessible, draw, launchPage, serveForTests, show, until } from './harness.mjs';

const READY_TIMEOUT_MS = 120_000;
const EXPLAIN_TIMEOUT_MS = 120_000;
const STROKES = Object.fromEntries(DIGITS);
const TEXT = 'the state of the union';

const site = serveForTests();

function assertNoPanic(problems) {
  const fatal = problems.filter((p) => p.startsWith('uncaught:') || p.includes('panicked at'));
  assert.deepEqual(fatal, [], `page errors:\n${problems.join('\n')}`);
}

/** The saliency canvas's state, class and scale. */
function why(page) {
  return page.locator('#why-canvas').evaluate((el) => ({ ...el.dataset }));
}

/** Waits for a map other than `before` (the canvas's pixels) and returns it. */
async function newMap(run, what, before) {
  await until(
    run,
    what,
    (b) => {
      const c = document.querySelector('#why-canvas');
      return c?.dataset.state === 'ready' && Number(c.dataset.max) > 0 && c.toDataURL() !== b;
    },
    before,
    { timeout: EXPLAIN_TIMEOUT_MS, show: '#why' },
  );
  return { ...(await why(run.page)), pixels: await run.page.locator('#why-canvas').evaluate((c) => c.toDataURL()) };
}

for (const cfg of CONFIGS) {
  test(`${cfg.label}: why this answer: saliency, make it a 1, which characters mattered, gates, backprop`, { timeout: READY_TIMEOUT_MS + 9 * EXPLAIN_TIMEOUT_MS }, async (t) => {
    const run = await launchPage(cfg.args);
    t.after(() => run.browser.close());
    const { page } = run;
    await page.goto(`${site.url}#draw`);
    await until(run, '#app[data-ready="true"]', () => document.querySelector('#app')?.dataset.ready === 'true', null, {
      timeout: READY_TIMEOUT_MS,
      show: '#loading-progress, #app',
    });
    assert.equal(await page.locator('#app').getAttribute('data-backend'), cfg.backend);
    assert.equal((await why(page)).state, 'empty', 'a map before any drawing');

    await draw(page, STROKES['7']);
    await until(run, 'the network reads 7', () => document.querySelector('#prediction')?.dataset.digit === '7', null, {
      show: '#prediction',
    });
    const read = await newMap(run, 'the saliency map of the 7', '');
    assert.equal(read.class, '7', 'the map explains the digit read');
    assert.match(await page.locator('#why-legend').innerText(), /\d/, 'the legend gives the scale');

    // Another question, another map: 7 and not 1, gradient x input, occlusion.
    await page.selectOption('#why-against', '1');
    const versus = await newMap(run, 'the map of 7 against 1', read.pixels);
    await page.selectOption('#why-view', 'times-input');
    const times = await newMap(run, 'gradient x input', versus.pixels);
    await page.selectOption('#why-view', 'occlusion');
    await newMap(run, 'the occlusion map', times.pixels);

    // Make it a 1: reached within 200 steps, with the change measured.
    await page.selectOption('#make-it-target', '1');
    await page.click('#make-it-go');
    await until(run, 'make it a 1', () => document.querySelector('#make-it-result')?.dataset.reached !== '', null, {
      timeout: EXPLAIN_TIMEOUT_MS,
      show: '#make-it-result',
    });
    const made = await page.locator('#make-it-result').evaluate((el) => ({ ...el.dataset, text: el.innerText }));
    assert.equal(made.reached, 'true', `not reached: ${made.text}`);
    assert.ok(Number(made.steps) >= 1 && Number(made.steps) <= 200, `steps ${made.steps}`);
    assert.ok(Number(made.l2) > 0, `L2 change ${made.l2}`);
    t.diagnostic(`${cfg.name}: ${made.text}`);
    assert.equal(await page.locator('#prediction').getAttribute('data-digit'), '7', 'the drawing itself still reads 7');
    await assertAccessible(page, '#why');

    // Which characters mattered, by gradient and by occlusion.
    await show(page, 'text');
    await page.click('#text-input');
    await page.keyboard.type(TEXT);
    await page.click('#chars-go');
    const influence = async () => {
      await until(run, 'characters highlighted', () => document.querySelector('#chars-highlight')?.dataset.state === 'ready', null, {
        timeout: EXPLAIN_TIMEOUT_MS,
        show: '#char-influence',
      });
      return page.$$eval('#chars-highlight span[data-influence]', (s) => s.map((e) => [e.textContent, Number(e.dataset.influence)]));
    };
    const byGradient = await influence();
    assert.equal(byGradient.map(([c]) => c).join(''), TEXT, 'one highlight per typed character');
    assert.ok(byGradient.some(([, v]) => v > 0), 'some character has influence');
    assert.match(await page.locator('#chars-next').innerText(), /%/);
    await page.check('#chars-occlusion');
    const byOcclusion = await influence();
    assert.equal(byOcclusion.length, TEXT.length);
    assert.notDeepEqual(byOcclusion, byGradient, 'occlusion shows its own numbers');
    await assertAccessible(page, '#char-influence');

    await readGates(run, cfg);
    await backprop(run, cfg);
    assertNoPanic(run.problems);
  });
}

/** Screenshots of all of `selector` at desktop and 390 px width, for looking at. */
async function pictures(page, cfg, name, selector) {
  if (cfg.name !== 'cpu') return;
  await page.locator(selector).screenshot({ path: path.join(artifacts, `${name}-desktop.png`) });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator(selector).screenshot({ path: path.join(artifacts, `${name}-390.png`) });
  await page.setViewportSize({ width: 1280, height: 800 });
}

/** The gates of the typed text, read as LSTMVis reads them. */
async function readGates(run, cfg) {
  const { page } = run;
  const heat = page.locator('#gate-heatmap');
  await until(run, 'the gates of the typed text', (n) => Number(document.querySelector('#gate-heatmap')?.dataset.chars) === n, TEXT.length);
  assert.deepEqual(await page.$$eval('#gate-heatmap .gate-band', (b) => b.map((e) => e.dataset.band)), ['i', 'f', 'g', 'o', 'c']);
  assert.match(await page.locator('.gate-band[data-band="f"] .band-name').innerText(), /forget/);
  const units = async () => (await heat.getAttribute('data-units')).split(',').map(Number);
  assert.equal((await units()).length, 128, 'all units in order at first');

  // The ten most active units; the first is traced over the text.
  await page.selectOption('#gate-rank', 'active');
  await until(run, 'ten units shown', () => document.querySelector('#gate-heatmap').dataset.units.split(',').length === 10);
  const top = await units();
  assert.equal(new Set(top).size, 10);
  const trace = () => page.locator('#unit-trace').evaluate((el) => ({ ...el.dataset }));
  await until(run, 'the most active unit traced', (u) => document.querySelector('#unit-trace').dataset.unit === String(u), top[0]);
  assert.equal(Number((await trace()).points), TEXT.length, 'one point per character');
  assert.equal(await page.locator('#unit-text span').count(), TEXT.length, 'the text shaded by the unit');

  // The pointer on the forget gate at the last character, first unit shown.
  const forget = page.locator('#gate-heatmap canvas[data-band="f"]');
  const box = await forget.boundingBox();
  await forget.hover({ position: { x: box.width - 2, y: box.height / 20 } });
  const readout = () => page.locator('#gate-readout').innerText();
  await until(run, 'the cell named in words', (u) => (document.querySelector('#gate-readout')?.textContent ?? '').startsWith(`Unit ${u} ·`), top[0], { show: '#gate-readout' });
  const said = await readout();
  assert.match(said, /f \(forget gate/, said);
  assert.match(said, new RegExp(`“n”, character ${TEXT.length} of ${TEXT.length}`), said);
  const value = Number(said.match(/value (-?[\d.]+)/)[1]);
  assert.ok(value > 0 && value < 1, `a forget gate's value ${value} is in 0..1`);

  // The keyboard: down one unit on the forget band, Enter traces it.
  await forget.focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await until(run, 'the second unit traced', (u) => document.querySelector('#unit-trace').dataset.unit === String(u), top[1]);
  assert.match(await readout(), new RegExp(`Unit ${top[1]} ·`));
  await pictures(page, cfg, 'gates', '#heatmap-view');
  await assertAccessible(page, '#heatmap-view');
}

/** One step from random weights, then a conv1 and an fc2 weight read. */
async function backprop(run, cfg) {
  const { page } = run;
  await show(page, 'train');
  await page.selectOption('#td-from', 'random');
  await page.locator('#td-eval-every').fill('1000');
  await page.locator('#td-eval-every').dispatchEvent('change');
  await page.click('#td-step');
  await until(run, 'the traced step', () => document.querySelector('#backprop')?.hidden === false && !!document.querySelector('#backprop-formula'), null, {
    timeout: EXPLAIN_TIMEOUT_MS,
    show: '#td-status, #td-message',
  });
  const formula = () => page.locator('#backprop-formula').evaluate((el) => {
    const num = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, k === 'name' || k === 'index' ? v : Number(v)]));
    return { ...num({ ...el.dataset }), adam: num({ ...document.querySelector('#backprop-adam')?.dataset }) };
  });
  const check = (f, what) => {
    // The products dy·x, read back, add up to the kernel's gradient.
    assert.ok(Math.abs(f.sum - f.grad) <= 1e-6 + 1e-4 * f.magnitude, `${what}: Σ dy·x ${f.sum} vs kernel ${f.grad}`);
    // Step 1 from zero moments: m = (1 − β1) g, v = (1 − β2) g².
    const a = f.adam;
    assert.ok(Math.abs(a.m - (1 - a.beta1) * f.grad) <= 1e-7 + 1e-5 * Math.abs(f.grad), `${what}: m ${a.m}, g ${f.grad}`);
    assert.ok(Math.abs(a.v - (1 - a.beta2) * f.grad * f.grad) <= 1e-12 + 1e-4 * a.v, `${what}: v ${a.v}`);
    assert.ok(Math.abs(a.mHat - a.m / a.bc1) <= 1e-6 * Math.abs(a.mHat) + 1e-12, `${what}: m̂`);
    const after = f.before - (a.lr * a.mHat) / (Math.sqrt(a.vHat) + a.eps);
    assert.ok(Math.abs(f.after - after) <= 1e-6 + 1e-3 * a.lr, `${what}: read back ${f.after}, Adam gives ${after}`);
  };
  const first = await formula();
  assert.equal(first.name, 'conv1.weight');
  assert.equal(first.count, 32 * 26 * 26, 'a conv1 weight sums a product per image and output position');
  check(first, 'the strongest conv1 weight');
  assert.equal(await page.locator('.backprop-terms li').count(), 6, 'the six largest products listed');

  // The pointer on fc2's first weight: a product per image.
  const fc2 = page.locator('#backprop canvas[data-param="fc2.weight"]');
  await fc2.hover({ position: { x: 1, y: 1 } });
  await until(run, 'an fc2 weight', () => document.querySelector('#backprop-formula')?.dataset.name === 'fc2.weight');
  const dense = await formula();
  assert.equal(dense.index, '0, 0');
  assert.equal(dense.count, 32);
  check(dense, 'fc2[0, 0]');
  // The keyboard: one weight to the right.
  await fc2.focus();
  await page.keyboard.press('ArrowRight');
  await until(run, 'fc2[0, 1]', () => document.querySelector('#backprop-formula')?.dataset.index === '0, 1');
  check(await formula(), 'fc2[0, 1]');
  console.log(`# ${cfg.name}: ${first.name}[${first.index}] grad ${first.grad} = Σ of ${first.count} dy·x ${first.sum}; ${first.before} -> ${first.after}`);
  await pictures(page, cfg, 'backprop', '#backprop');
  await assertAccessible(page, '#backprop');
}
