// The lessons in a real headless Chromium, with WebGPU and without, done as
// a student does them: every lesson from its first step to its end, each
// task by the mouse and the keyboard (drawing, clicking, typing, training),
// each quiz guessed before the answer shows. Then: a teacher's deep link
// opens one lesson at one step; the progress survives a reload; the
// Chinese page has Chinese lesson text; axe-core finds nothing on any part
// of the page or any lesson; screenshots of each lesson's key step at
// desktop and phone width go to test-artifacts/.
//
// scripts/test runs this with the other page tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CONFIGS, DIGITS, artifacts, assertAccessible, draw, launchPage, openSettings, serveForTests, show, until } from './harness.mjs';

const READY_TIMEOUT_MS = 120_000;
const TRAIN_TIMEOUT_MS = 400_000;
const STROKES = Object.fromEntries(DIGITS);

const site = serveForTests();

const click = (selector) => async (run) => run.page.click(selector);
const drawn = (digit) => async (run) => draw(run.page, STROKES[digit]);
const guess = (quiz, option) => click(`#quiz-${quiz}-${option}`);
const nothing = async () => {};

/** What a student does at each step of each lesson, in order. */
const LESSONS = {
  pixels: [drawn('3'), guess('how-many-numbers', 1), click('#step-center'), click('#step-center')],
  conv: [drawn('1'), async (run) => { for (let i = 0; i < 3; i++) await run.page.click('#conv-step'); }, guess('conv-size', 1), nothing],
  activations: [drawn('7'), async (run) => { await run.page.click('#act-sigmoid'); await run.page.click('#act-tanh'); }, guess('relu-negative', 0)],
  pooling: [drawn('7'), guess('pool-thin', 0)],
  dense: [
    drawn('4'),
    async (run) => {
      await run.page.locator('#softmax-temperature').fill('2');
      await run.page.locator('#softmax-temperature').dispatchEvent('input');
    },
    guess('softmax-shift', 0),
  ],
  training: [
    async (run) => {
      await run.page.selectOption('#td-from', 'random');
      await run.page.locator('#td-eval-every').fill('1000');
      await run.page.locator('#td-eval-every').dispatchEvent('change');
      await run.page.click('#td-step');
    },
    async (run) => {
      await run.page.focus('#backprop canvas[data-param]');
      await run.page.keyboard.press('ArrowRight');
    },
    guess('loss-50', 0),
    async (run) => {
      await run.page.click('#td-resume');
      await until(run, '50 training steps', () => Number(document.querySelector('#td-status')?.dataset.step) >= 50, null, {
        timeout: TRAIN_TIMEOUT_MS,
        show: '#td-status, #td-message',
      });
      await run.page.click('#td-pause');
    },
  ],
  rnn: [
    async (run) => {
      await run.page.click('#text-input');
      await run.page.keyboard.type('the state of the union');
    },
    guess('forget-gate', 0),
    click('#lab-task-text'),
  ],
  service: [drawn('0'), click('#curl-copy')],
};
/** The step whose picture the note lists, by lesson (from 1). */
const KEY_STEP = { pixels: 3, conv: 2, activations: 2, pooling: 2, dense: 2, training: 2, rnn: 2, service: 2 };

async function open(cfg, hash = '#lessons') {
  const run = await launchPage(cfg.args);
  await run.page.goto(site.url + hash);
  await until(run, '#app[data-ready="true"]', () => document.querySelector('#app')?.dataset.ready === 'true', null, {
    timeout: READY_TIMEOUT_MS,
    show: '#loading-progress, #app',
  });
  return run;
}

/** The card's lesson, step and whether its task is done. */
function card(page) {
  return page.locator('#lesson-card').evaluate((el) => ({ hidden: el.hidden, ...el.dataset }));
}

function assertNoPanic(problems) {
  const fatal = problems.filter((p) => p.startsWith('uncaught:') || p.includes('panicked at'));
  assert.deepEqual(fatal, [], `page errors:\n${problems.join('\n')}`);
}

for (const cfg of CONFIGS) {
  test(`${cfg.label}: every lesson, done by its tasks, reaches its end`, { timeout: READY_TIMEOUT_MS + TRAIN_TIMEOUT_MS + 600_000 }, async (t) => {
    const run = await open(cfg);
    t.after(() => run.browser.close());
    const { page } = run;
    await assertAccessible(page, '#app');
    for (const [id, actions] of Object.entries(LESSONS)) {
      await show(page, 'lessons');
      await page.click(`#lesson-start-${id}`);
      for (const [i, act] of actions.entries()) {
        const step = i + 1;
        await until(run, `${id} at step ${step}`, ([id, step]) => {
          const c = document.querySelector('#lesson-card');
          return c && !c.hidden && c.dataset.lesson === id && c.dataset.step === String(step);
        }, [id, step], { show: '#lesson-card' });
        // The step's part of the page is shown and highlighted.
        const section = await page.locator('#app').getAttribute('data-section');
        assert.ok(await page.evaluate(() => location.hash.includes('lesson=')), 'the step is in the address');
        const c = await card(page);
        if (c.target) {
          await until(run, `${id} step ${step}: #${c.target} outlined`, (t) => {
            const el = document.getElementById(t);
            return el?.classList.contains('lesson-target') && el.getClientRects().length > 0;
          }, c.target, { show: '#lesson-card' });
        }
        if (c.done === 'true' && step > 1) t.diagnostic(`${id} step ${step} was done on arrival`);
        await act(run);
        await until(run, `${id} step ${step} done`, () => document.querySelector('#lesson-card')?.dataset.done === 'true', null, {
          timeout: TRAIN_TIMEOUT_MS,
          show: '#lesson-card',
        });
        if (KEY_STEP[id] === step) {
          await assertAccessible(page, '#app');
          if (cfg.name === 'cpu') {
            await page.screenshot({ path: path.join(artifacts, `lesson-${id}-desktop.png`) });
            await page.setViewportSize({ width: 390, height: 844 });
            // The page scrolls a step's target into view when the step opens;
            // the narrower layout moved it, so scroll again as a phone would have.
            await page.evaluate(() => document.querySelector('.lesson-target')?.scrollIntoView());
            await page.screenshot({ path: path.join(artifacts, `lesson-${id}-phone.png`) });
            await page.setViewportSize({ width: 1280, height: 800 });
          }
        }
        assert.equal(await page.locator('#app').getAttribute('data-section'), section, 'the task kept the part of the page');
        await page.click('#lesson-next');
      }
      await until(run, `${id} closed at its end`, () => document.querySelector('#lesson-card')?.hidden === true, null, { show: '#lesson-card' });
      await show(page, 'lessons');
      assert.equal(await page.locator(`li[data-lesson="${id}"]`).getAttribute('data-finished'), 'true', `${id} is not marked done`);
    }
    // Every part of the page passes axe-core too.
    for (const section of ['draw', 'inside', 'train', 'text', 'lab', 'service', 'lessons']) {
      await show(page, section);
      await assertAccessible(page, '#app');
    }
    // The progress is kept across a reload.
    await page.reload();
    await until(run, '#app ready after the reload', () => document.querySelector('#app')?.dataset.ready === 'true', null, { timeout: READY_TIMEOUT_MS });
    await show(page, 'lessons');
    const finished = await page.$$eval('li[data-lesson]', (ls) => ls.filter((l) => l.dataset.finished === 'true').length);
    assert.equal(finished, Object.keys(LESSONS).length, 'every lesson is still done after a reload');
    assertNoPanic(run.problems);
  });

  test(`${cfg.label}: a teacher's link opens one lesson at one step, in Chinese too`, { timeout: READY_TIMEOUT_MS * 2 + 60_000 }, async (t) => {
    const run = await open(cfg, '#lesson=conv&step=3');
    t.after(() => run.browser.close());
    const { page } = run;
    await until(run, 'the convolution lesson at step 3', () => {
      const c = document.querySelector('#lesson-card');
      return c && !c.hidden && c.dataset.lesson === 'conv' && c.dataset.step === '3';
    }, null, { show: '#lesson-card' });
    assert.equal(await page.locator('#app').getAttribute('data-section'), 'inside', 'the step shows its part of the page');
    assert.ok(await page.locator('#quiz-conv-size').isVisible(), "the step's question is there");
    // Predict, then reveal: no answer before the guess.
    assert.ok(await page.locator('#quiz-conv-size .reveal').isHidden());
    await page.click('#quiz-conv-size-0');
    assert.match(await page.locator('#quiz-conv-size .reveal').innerText(), /26/);
    assert.equal(await page.locator('#quiz-conv-size .reveal').getAttribute('data-right'), 'false');
    // Keyboard: the highlighted part has the focus when a step opens.
    await page.click('#lesson-next');
    await until(run, 'step 4 focused on the filters', () => document.activeElement?.id === 'layer-0-filters', null, { show: '#lesson-card' });
    await openSettings(page);
    await page.selectOption('#lang', 'zh');
    for (const id of Object.keys(LESSONS)) {
      await page.evaluate((id) => { location.hash = `#lessons&lesson=${id}&step=1`; }, id);
      await until(run, `${id} in Chinese`, (id) => {
        const c = document.querySelector('#lesson-card');
        return c?.dataset.lesson === id && /[\u4e00-\u9fff]/.test(c.querySelector('#lesson-text')?.textContent ?? '');
      }, id, { show: '#lesson-card' });
    }
    await assertAccessible(page, '#app');
    assertNoPanic(run.problems);
  });
}
