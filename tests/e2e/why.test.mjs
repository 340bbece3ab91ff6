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
//   - axe-core finds nothing in either part.
//
// scripts/test runs this with the other page tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIGS, DIGITS, assertAccessible, draw, launchPage, serveForTests, show, until } from './harness.mjs';

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
  test(`${cfg.label}: why this answer: saliency, make it a 1, which characters mattered`, { timeout: READY_TIMEOUT_MS + 6 * EXPLAIN_TIMEOUT_MS }, async (t) => {
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
    assertNoPanic(run.problems);
  });
}
