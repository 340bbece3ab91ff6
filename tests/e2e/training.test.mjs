// The two training panels of the built page (dist/, from `trunk build`), in
// Debian's Chromium with WebGPU (SwiftShader) and without it (the CPU
// fallback), each test in a fresh browser so that no run, drawing or kept
// weights (IndexedDB) leaks from one test into the next:
//
//   - digits: 200 steps from random weights pass 80% test accuracy, with the
//     confusion matrix, the charts and the speed filled in; pause, one step
//     and resume keep the step count, and the drawing pad still answers while
//     a run goes on; input reaches the screen within 100 ms while training
//     (Event Timing); a forced NaN (?nan-at-step=N) stops the run and keeps
//     the last good weights; trained weights come back after a reload and
//     can be forgotten; a taught digit changes the network's answer;
//   - text: pasted multilingual text trains 50 steps with a falling loss and
//     a sample; text over 4 MB is refused.
//
// scripts/test runs this with the page tests (node --test tests/e2e/*.test.mjs).
// A full-page screenshot of each test's page goes to test-artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ANSWER_TIMEOUT_MS, CONFIGS, DIGITS, artifacts, draw, launchPage, serveForTests, show, snapshot, until } from './harness.mjs';

/** The part of the page each training panel is on, by its ids' prefix. */
const PANEL_SECTION = { td: 'train', tt: 'text' };

// Fetching both models' weights and bringing the engine up (on SwiftShader
// that includes compiling every pipeline) on a busy 2-core machine.
const READY_TIMEOUT_MS = 120_000;
// One digit training step at batch 32: up to about 1 s on SwiftShader on
// this slow 2-core machine; three times that for a busy one.
const STEP_MS = 3_000;
// One evaluation (2,000 test images in chunks) and the save that follows.
const EVAL_MS = 120_000;
/** How long `steps` digit steps and an evaluation may take. */
const stepsTimeout = (steps) => steps * STEP_MS + EVAL_MS;
// Bringing a run up: the training images are fetched on the first start.
const START_TIMEOUT_MS = 120_000;
// Pasted text: 50 steps at batch 8, window 32, and two 200-character samples.
const TEXT_RUN_TIMEOUT_MS = 600_000;
// A taught digit must change the answer within this much training.
const TEACH_TIMEOUT_MS = 300_000;
// Room for the page to load, the waits above and the screenshots.
const MARGIN_MS = READY_TIMEOUT_MS + 5 * 60_000;

// The page classifies at each animation frame while a stroke is drawn: an
// answer is final once #prediction and the bars have been quiet this long
// (or three times the page's own last latency, if longer).
const DIGIT_QUIET_MS = 800;
// A paused run may finish the step it was taking: the step count is taken
// as settled once it has not moved for this long.
const PAUSE_QUIET_MS = 2_000;

/** The digits the tests draw (harness.mjs), by class. */
const STROKES = Object.fromEntries(DIGITS);

const site = serveForTests();

// ---- The page --------------------------------------------------------------

/**
 * Opens the page (with `query`, e.g. "?nan-at-step=30") in a fresh headless
 * Chromium with `args` (see launchPage) and waits until it is ready. When
 * test `t` ends, a screenshot of the page goes to test-artifacts/ and the
 * browser closes.
 */
async function openPage(t, cfg, query = '') {
  const run = await launchPage(cfg.args);
  t.after(async () => {
    const name = `training-${t.name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase()}.png`;
    try {
      await run.page.screenshot({ path: path.join(artifacts, name), fullPage: true, timeout: 30_000 });
    } catch (e) {
      // Never hides the test's own failure.
      console.error(`screenshot ${name}: ${e.message}`);
    }
    await run.browser.close();
  });
  await run.page.goto(new URL(query, site.url).href);
  await waitReady(run);
  assert.equal(await run.page.locator('#app').getAttribute('data-backend'), cfg.backend, '#app data-backend');
  await watchDigit(run.page);
  return run;
}

/** Waits for #app[data-ready="true"]: both models loaded, the engine up. */
async function waitReady(run) {
  await until(run, '#app[data-ready="true"]', () => document.querySelector('#app')?.dataset.ready === 'true', null, {
    timeout: READY_TIMEOUT_MS,
    show: '#loading, #loading-progress, #app',
  });
}

/** Uncaught exceptions and Rust panics fail the test, even outside a wait. */
function assertNoPanic(problems) {
  const fatal = problems.filter((p) => p.startsWith('uncaught:') || p.includes('panicked at'));
  assert.deepEqual(fatal, [], `page errors:\n${problems.join('\n')}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- Settings and buttons --------------------------------------------------

/**
 * Sets a number input as a person does: fill types the value (input events
 * only), then the change a person's blur fires, on which the page commits it.
 */
async function setNumber(page, selector, value) {
  const input = page.locator(selector);
  await input.fill(String(value));
  await input.dispatchEvent('change');
  assert.equal(await input.inputValue(), String(value), `${selector} after setting it`);
}

/**
 * Sets a panel's settings: `values` maps the part of the id after the
 * prefix ("from", "eval-every") to a value; selects get selectOption,
 * number inputs setNumber.
 */
async function configure(page, prefix, values) {
  await show(page, PANEL_SECTION[prefix]);
  for (const [key, value] of Object.entries(values)) {
    const selector = `#${prefix}-${key}`;
    const tag = await page.locator(selector).evaluate((el) => el.tagName);
    if (tag === 'SELECT') await page.selectOption(selector, String(value));
    else await setNumber(page, selector, value);
  }
}

/** The data- attributes of #PREFIX-status, as dataset names them (step, evalStep, savedStep, ...). */
function readStatus(page, prefix) {
  return page.locator(`#${prefix}-status`).evaluate((el) => ({ ...el.dataset }));
}

/** #PREFIX-message as { kind, text, hidden }. */
function readMessage(page, prefix) {
  return page.locator(`#${prefix}-message`).evaluate((el) => ({
    kind: el.dataset.kind ?? '',
    text: el.textContent.trim(),
    hidden: el.hidden,
  }));
}

/** What a failed wait on a panel shows: its status and its message. */
const shown = (prefix) => `#${prefix}-status, #${prefix}-message`;

/**
 * Whether #PREFIX-status matches `want`: { state: "paused" | [...],
 * equals: { evalStep: "200" }, atLeast: { step: 5 } } (dataset names).
 * Unless `strict`, it also holds once the run has ended (stopped, done) in a
 * state `want` does not ask for, so a wait stops early instead of running
 * into its long timeout; waitStatus then checks again, strictly.
 */
function statusCheck([selector, want, strict]) {
  const d = document.querySelector(selector)?.dataset;
  if (!d) return false;
  const states = want.state === undefined ? null : [want.state].flat();
  let ok = !states || states.includes(d.state);
  for (const [k, v] of Object.entries(want.equals ?? {})) ok = ok && d[k] === v;
  for (const [k, v] of Object.entries(want.atLeast ?? {})) ok = ok && d[k] !== '' && d[k] !== undefined && Number(d[k]) >= v;
  if (ok || strict) return ok;
  return ['stopped', 'done'].includes(d.state) && !(states && states.includes(d.state));
}

/** Waits until #PREFIX-status matches `want` (see statusCheck); returns its attributes. */
async function waitStatus(run, prefix, what, want, timeout) {
  const selector = `#${prefix}-status`;
  await until(run, `${selector}: ${what}`, statusCheck, [selector, want, false], { timeout, show: shown(prefix) });
  if (!(await run.page.evaluate(statusCheck, [selector, want, true]))) {
    assert.fail(`the run ended before ${what}:\n${await snapshot(run.page, shown(prefix))}`);
  }
  return readStatus(run.page, prefix);
}

/**
 * Clicks #PREFIX-start (or another of the panel's buttons) on an idle panel
 * and waits until a run exists, so a refused start (bad settings) fails here
 * with its message instead of at a long wait.
 */
async function startRun(run, prefix, button = 'start') {
  await show(run.page, PANEL_SECTION[prefix]);
  await run.page.click(`#${prefix}-${button}`);
  await until(
    run,
    `a ${prefix} run after #${prefix}-${button}`,
    (prefix) =>
      document.querySelector(`#${prefix}-status`)?.dataset.state !== 'idle' ||
      document.querySelector(`#${prefix}-message`)?.dataset.kind === 'problem',
    prefix,
    { timeout: START_TIMEOUT_MS, show: shown(prefix) },
  );
  const { state } = await readStatus(run.page, prefix);
  assert.notEqual(state, 'idle', `#${prefix}-${button} started no run:\n${await snapshot(run.page, shown(prefix))}`);
}

/**
 * Clicks #PREFIX-pause and waits until the run is paused and its step count
 * has settled (the step under way when pause was clicked may still land);
 * returns the status.
 */
async function pause(run, prefix) {
  await show(run.page, PANEL_SECTION[prefix]);
  await run.page.click(`#${prefix}-pause`);
  const selector = `#${prefix}-status`;
  await until(
    run,
    `${selector}: paused with a settled step count`,
    ([selector, quiet]) => {
      const d = document.querySelector(selector)?.dataset;
      const seen = (window.__settled ??= {});
      if (d?.state !== 'paused') {
        delete seen[selector];
        return false;
      }
      if (seen[selector]?.step !== d.step) {
        seen[selector] = { step: d.step, since: performance.now() };
        return false;
      }
      return performance.now() - seen[selector].since >= quiet;
    },
    [selector, PAUSE_QUIET_MS],
    { timeout: ANSWER_TIMEOUT_MS, show: shown(prefix) },
  );
  return readStatus(run.page, prefix);
}

/** Whether the element `selector` is disabled. */
const disabled = (page, selector) => page.locator(selector).isDisabled();

// ---- The drawing pad -------------------------------------------------------

/**
 * Counts DOM changes inside #prediction and the bars and when the last one
 * happened, so a wait can ask for an answer newer than a drawing.
 */
async function watchDigit(page) {
  await page.evaluate(() => {
    const watch = { changes: 0, last: performance.now() };
    window.__digit = watch;
    const sel = '#prediction, #probs';
    const inside = (node) => {
      const el = node?.nodeType === Node.ELEMENT_NODE ? node : node?.parentElement;
      return Boolean(el?.closest(sel));
    };
    new MutationObserver((records) => {
      const touched = records.some(
        (m) =>
          inside(m.target) ||
          [...m.addedNodes, ...m.removedNodes].some(
            (n) => n.nodeType === Node.ELEMENT_NODE && (n.matches(sel) || n.querySelector(sel)),
          ),
      );
      if (touched) {
        watch.changes += 1;
        watch.last = performance.now();
      }
    }).observe(document.body, { attributes: true, childList: true, characterData: true, subtree: true });
  });
}

/**
 * Clears the drawing, draws `strokes` and returns #prediction's state and
 * digit. With `settle` the answer must have been quiet a while (the final
 * one); without, any answer to the new drawing will do: while a run goes
 * on, the page asks the model again every half second, so the bars never
 * rest.
 */
async function predictionOf(run, strokes, { settle = true } = {}) {
  const { page } = run;
  if (!(await page.locator('#clear').isVisible())) await show(page, 'draw');
  await page.click('#clear');
  await until(run, 'empty #prediction after #clear', () => document.querySelector('#prediction')?.dataset.state === 'empty', null, {
    show: '#prediction',
  });
  const since = await page.evaluate(() => window.__digit.changes);
  await draw(page, strokes);
  await until(
    run,
    settle ? 'settled prediction' : 'a prediction',
    ([since, quiet]) => {
      const el = document.querySelector('#prediction');
      const watch = window.__digit;
      if (el?.dataset.state !== 'ready' || !el.dataset.digit || watch.changes <= since) return false;
      const wait = quiet && Math.max(quiet, 3 * (Number(el.dataset.latencyMs) || 0));
      return performance.now() - watch.last >= wait;
    },
    [since, settle ? DIGIT_QUIET_MS : 0],
    { show: '#prediction' },
  );
  return page.locator('#prediction').evaluate((el) => ({ state: el.dataset.state, digit: el.dataset.digit, text: el.innerText }));
}

// ---- Other readings --------------------------------------------------------

/** How many different colours a canvas holds: 1 for a blank one. */
function canvasColours(page, selector) {
  return page.locator(selector).evaluate((canvas) => {
    const ctx = canvas.getContext('2d');
    if (!ctx || !canvas.width || !canvas.height) return 0;
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const seen = new Set();
    for (let i = 0; i < data.length && seen.size < 3; i += 4) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return seen.size;
  });
}

/**
 * The keys kept in the page's IndexedDB store (neuralpad / weights). Opens
 * the database only where it exists: opening a missing one would create it
 * without the store and keep the page from ever making it.
 */
function keptModels(page) {
  return page.evaluate(async () => {
    const dbs = await indexedDB.databases();
    if (!dbs.some((d) => d.name === 'neuralpad')) return [];
    return new Promise((resolve, reject) => {
      const req = indexedDB.open('neuralpad');
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains('weights')) {
          db.close();
          resolve([]);
          return;
        }
        const keys = db.transaction('weights').objectStore('weights').getAllKeys();
        keys.onsuccess = () => {
          db.close();
          resolve(keys.result.map(String));
        };
        keys.onerror = () => {
          db.close();
          reject(keys.error);
        };
      };
    });
  });
}

/** Polls keptModels until `fn(keys)` holds; fails with the keys after `timeout`. */
async function waitKept(page, what, fn, timeout = ANSWER_TIMEOUT_MS) {
  const end = Date.now() + timeout;
  let keys;
  for (;;) {
    keys = await keptModels(page);
    if (fn(keys)) return keys;
    if (Date.now() > end) assert.fail(`no ${what} within ${timeout / 1000} s: IndexedDB keeps ${JSON.stringify(keys)}`);
    await sleep(200);
  }
}

/** About `chars` characters (code points) of German, Russian, Chinese and emoji, a paragraph repeated. */
function multilingual(chars) {
  const paragraph = [
    'Der schnelle braune Fuchs springt über den faulen Hund; Größe, Übung und Straße sind schön. ',
    'Съешь же ещё этих мягких французских булок, да выпей чаю. ',
    '我能吞下玻璃而不伤身体。今天天气很好，我们去公园散步吧。',
    ' 🎉🚀 Grüße aus Köln! 😀👍🏽\n',
  ].join('');
  const points = [];
  while (points.length < chars) points.push(...paragraph);
  return points.slice(0, chars).join('');
}

// ---- The tests -------------------------------------------------------------

for (const cfg of CONFIGS) {
  test(
    `${cfg.label}: 200 steps of digit training from random weights pass 80% test accuracy`,
    { timeout: stepsTimeout(200) + MARGIN_MS },
    async (t) => {
      const run = await openPage(t, cfg);
      const { page } = run;
      await configure(page, 'td', { from: 'random', 'eval-every': 200 });
      await startRun(run, 'td');
      await waitStatus(run, 'td', 'an evaluation at step 200', { equals: { evalStep: '200' } }, stepsTimeout(200));
      await pause(run, 'td');

      const st = await readStatus(page, 'td');
      const accuracy = Number(st.accuracy);
      const perSec = Number(st.imagesPerSec);
      t.diagnostic(`${cfg.title}: test accuracy ${accuracy} after 200 steps; ${perSec} images/s`);
      assert.ok(accuracy > 0.8, `test accuracy ${st.accuracy} after 200 steps (want > 0.8)`);
      assert.ok(accuracy <= 1, `data-accuracy ${st.accuracy}`);
      assert.equal(st.evals, '1', 'data-evals: one evaluation, at step 200');
      assert.equal(st.total, '313', 'data-total: 1 epoch of ceil(10000 / 32) steps');
      assert.ok(Number.isFinite(Number(st.loss)) && st.loss !== '', `data-loss ${st.loss}`);
      assert.ok(perSec > 0, `data-images-per-sec ${st.imagesPerSec}`);
      assert.ok(Number(st.savedStep) >= 200, `data-saved-step ${st.savedStep}: the weights were kept at the evaluation`);

      const cells = await page.locator('#td-confusion td[data-true][data-pred]').evaluateAll((tds) =>
        tds.map((td) => ({ t: td.dataset.true, p: td.dataset.pred, n: Number(td.textContent.trim()) })),
      );
      assert.equal(cells.length, 100, '#td-confusion cells');
      assert.ok(cells.every((c) => Number.isInteger(c.n) && c.n >= 0), 'a confusion cell is not a count');
      assert.equal(cells.reduce((s, c) => s + c.n, 0), 2000, 'the confusion counts sum to the 2,000 test images');
      const right = cells.filter((c) => c.t === c.p).reduce((s, c) => s + c.n, 0);
      assert.ok(Math.abs(right / 2000 - accuracy) < 1e-3, `diagonal ${right}/2000 against data-accuracy ${st.accuracy}`);

      const mistakes = await page.locator('#td-mistakes li').evaluateAll((lis) =>
        lis.map((li) => ({ truth: li.dataset.truth, predicted: li.dataset.predicted })),
      );
      if (accuracy < 1) assert.ok(mistakes.length > 0, 'no #td-mistakes although some test digits were wrong');
      for (const m of mistakes) assert.notEqual(m.truth, m.predicted, `a gallery mistake that is right: ${JSON.stringify(m)}`);

      assert.equal(await page.locator('#td-loss-chart').count(), 1, '#td-loss-chart');
      assert.equal(await page.locator('#td-accuracy-chart').count(), 1, '#td-accuracy-chart');
      assert.ok((await canvasColours(page, '#td-loss-chart')) > 1, '#td-loss-chart is blank');
      assertNoPanic(run.problems);
    },
  );

  test(
    `${cfg.label}: pause and resume keep the step count`,
    { timeout: stepsTimeout(30) + MARGIN_MS },
    async (t) => {
      const run = await openPage(t, cfg);
      const { page } = run;
      await configure(page, 'td', { from: 'shipped', 'eval-every': 1000 });
      await startRun(run, 'td');
      await waitStatus(run, 'td', 'running, step 5', { state: 'running', atLeast: { step: 5 } }, stepsTimeout(5));

      // While the run goes on: settings locked, only pause applies, and the
      // drawing pad still answers.
      assert.ok(await disabled(page, '#td-batch'), '#td-batch enabled during a run');
      assert.ok(await disabled(page, '#td-from'), '#td-from enabled during a run');
      assert.ok(await disabled(page, '#td-start'), '#td-start enabled during a run');
      assert.ok(await disabled(page, '#td-resume'), '#td-resume enabled while running');
      assert.ok(!(await disabled(page, '#td-pause')), '#td-pause disabled while running');
      const pred = await predictionOf(run, DIGITS[0][1], { settle: false });
      assert.equal(pred.state, 'ready');
      assert.match(pred.digit, /^[0-9]$/, `#prediction data-digit ${pred.digit}`);
      assert.equal((await readStatus(page, 'td')).state, 'running', 'the run stopped while the drawing was answered');
      t.diagnostic(`${cfg.title}: a '${DIGITS[0][0]}' drawn during training was read as ${pred.digit}`);

      const paused = await pause(run, 'td');
      const s1 = Number(paused.step);
      assert.ok(s1 >= 5, `paused at step ${paused.step}`);
      assert.ok(await disabled(page, '#td-pause'), '#td-pause enabled while paused');
      assert.ok(!(await disabled(page, '#td-resume')), '#td-resume disabled while paused');
      assert.ok(!(await disabled(page, '#td-step')), '#td-step disabled while paused');

      await sleep(1_500);
      let st = await readStatus(page, 'td');
      assert.equal(st.state, 'paused');
      assert.equal(Number(st.step), s1, 'the step count moved while paused');

      await page.click('#td-step');
      await waitStatus(run, 'td', `step ${s1 + 1} after one step`, { atLeast: { step: s1 + 1 } }, stepsTimeout(1));
      await sleep(PAUSE_QUIET_MS);
      st = await readStatus(page, 'td');
      assert.equal(Number(st.step), s1 + 1, 'one step took more than one step');
      assert.equal(st.state, 'paused', 'one step did not leave the run paused');

      await page.click('#td-resume');
      await waitStatus(run, 'td', `running past step ${s1 + 4}`, { atLeast: { step: s1 + 4 } }, stepsTimeout(3));
      assert.equal((await readStatus(page, 'td')).state, 'running', 'the run after resume');
      await pause(run, 'td');
      assertNoPanic(run.problems);
    },
  );

  test(
    `${cfg.label}: input reaches the screen within 100 ms while training`,
    { timeout: stepsTimeout(40) + MARGIN_MS },
    async (t) => {
      const run = await openPage(t, cfg);
      const { page } = run;
      await configure(page, 'td', { from: 'shipped', 'eval-every': 1000 });
      await startRun(run, 'td');
      const started = await waitStatus(run, 'td', 'running, step 2', { state: 'running', atLeast: { step: 2 } }, stepsTimeout(2));

      const supported = await page.evaluate(() => PerformanceObserver.supportedEntryTypes.includes('event'));
      assert.ok(supported, "this Chromium has no Event Timing ('event' entries)");
      await page.evaluate(() => {
        window.__events = [];
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) window.__events.push({ name: e.name, duration: e.duration });
        }).observe({ type: 'event', durationThreshold: 16, buffered: false });
      });

      // Five clicks on the drawing canvas and five keys in the text box,
      // alternating, about 300 ms apart.
      const canvas = page.locator('#draw-canvas');
      await canvas.scrollIntoViewIfNeeded();
      const box = await canvas.boundingBox();
      assert.ok(box, '#draw-canvas has no box');
      await show(page, 'text');
      const input = page.locator('#text-input');
      const keys = 'hello';
      for (let i = 0; i < 10; i++) {
        if (i % 2 === 0) {
          const k = i / 2;
          await page.mouse.move(box.x + box.width * (0.3 + 0.1 * k), box.y + box.height * (0.3 + 0.08 * k));
          await page.mouse.down();
          await page.mouse.up();
        } else {
          await input.focus();
          await page.keyboard.press(keys[(i - 1) / 2]);
        }
        await sleep(300);
      }
      // Entries come after the paint that ends them.
      await sleep(1_000);

      const events = await page.evaluate(() => window.__events);
      const measured = events.filter((e) => ['pointerdown', 'pointerup', 'keydown', 'keyup', 'click'].includes(e.name));
      const worst = measured.reduce((a, e) => (e.duration > a.duration ? e : a), { name: '(none over 16 ms)', duration: 0 });
      t.diagnostic(
        `${cfg.title}: slowest input to paint ${worst.duration} ms (${worst.name}); ${measured.length} of ${events.length} entries over 16 ms were clicks or keys`,
      );
      const st = await readStatus(page, 'td');
      assert.equal(st.state, 'running', 'the run was not going on during the input');
      assert.ok(Number(st.step) > Number(started.step), `no training step during the input (step ${started.step} -> ${st.step})`);
      assert.ok(
        worst.duration < 100,
        `input took ${worst.duration} ms to reach the screen (${worst.name}); all: ${JSON.stringify(measured)}`,
      );
      await pause(run, 'td');
      assertNoPanic(run.problems);
    },
  );

  test(
    `${cfg.label}: a forced NaN stops the run and keeps the last good weights`,
    { timeout: stepsTimeout(30) + MARGIN_MS },
    async (t) => {
      const run = await openPage(t, cfg, '?nan-at-step=30');
      const { page } = run;
      await configure(page, 'td', { from: 'shipped', 'eval-every': 1000 });
      await startRun(run, 'td');
      await waitStatus(run, 'td', 'stopped by the NaN at step 30', { state: 'stopped' }, stepsTimeout(30));

      const st = await readStatus(page, 'td');
      assert.equal(st.step, '29', 'data-step: the NaN step does not count');
      const message = await readMessage(page, 'td');
      assert.equal(message.kind, 'problem', `#td-message: ${message.text}`);
      assert.ok(!message.hidden, '#td-message hidden');
      assert.match(message.text, /NaN/, '#td-message');
      t.diagnostic(`${cfg.title}: ${message.text}`);
      // The last good weights are kept in the browser after the stop.
      await waitStatus(run, 'td', 'the kept weights saved', { state: 'stopped', equals: { savedStep: '29' } }, ANSWER_TIMEOUT_MS);
      assert.deepEqual(await keptModels(page), ['digits'], 'IndexedDB after the stop');

      // The weights answering the pad are the good ones, not NaN.
      for (const digit of ['1', '7']) {
        const pred = await predictionOf(run, STROKES[digit]);
        assert.equal(pred.digit, digit, `a drawn ${digit} after the NaN: ${pred.text}`);
      }
      assert.ok(!(await disabled(page, '#td-start')), '#td-start disabled after the stop');
      assert.ok(await disabled(page, '#td-resume'), '#td-resume enabled after the stop');
      assertNoPanic(run.problems);
    },
  );

  test(
    `${cfg.label}: trained weights come back after a reload`,
    { timeout: stepsTimeout(20) + 2 * READY_TIMEOUT_MS + MARGIN_MS },
    async (t) => {
      const run = await openPage(t, cfg);
      const { page } = run;
      await show(page, 'draw');
      assert.ok(await page.locator('#restored').isHidden(), '#restored shown on a fresh browser');
      await configure(page, 'td', { from: 'random', 'eval-every': 20 });
      await startRun(run, 'td');
      await waitStatus(run, 'td', 'weights kept at step 20', { equals: { savedStep: '20' } }, stepsTimeout(20));
      await pause(run, 'td');
      await waitKept(page, 'kept digit weights', (keys) => keys.includes('digits'));

      await page.reload();
      await waitReady(run);
      await show(page, 'draw');
      await until(run, 'a visible #restored', () => document.querySelector('#restored')?.hidden === false, null, {
        show: '#restored',
      });
      const models = await page.locator('#restored').getAttribute('data-models');
      assert.ok(models.split(',').includes('digits'), `#restored data-models ${JSON.stringify(models)}`);
      assert.equal((await readStatus(page, 'td')).state, 'idle', 'a run after the reload');

      await page.click('#forget-trained');
      await until(run, 'a hidden #restored after #forget-trained', () => document.querySelector('#restored')?.hidden === true, null, {
        show: '#restored',
      });
      await waitKept(page, 'forgotten digit weights', (keys) => !keys.includes('digits'));
      // And they stay forgotten.
      await page.reload();
      await waitReady(run);
      await show(page, 'draw');
      assert.ok(await page.locator('#restored').isHidden(), '#restored back after #forget-trained and a reload');
      assertNoPanic(run.problems);
    },
  );

  test(
    `${cfg.label}: teach it: a taught digit changes the network's answer`,
    { timeout: TEACH_TIMEOUT_MS + stepsTimeout(5) + MARGIN_MS },
    async (t) => {
      const run = await openPage(t, cfg);
      const { page } = run;
      await configure(page, 'td', { from: 'shipped', 'eval-every': 1000 });
      await startRun(run, 'td');
      await waitStatus(run, 'td', 'step 1', { atLeast: { step: 1 } }, stepsTimeout(1));
      await pause(run, 'td');

      const pred = await predictionOf(run, STROKES['1']);
      t.diagnostic(`${cfg.title}: the drawn 1 reads as ${pred.digit} before teaching`);
      await page.selectOption('#teach-label', '7');
      await page.click('#teach-add');
      await until(run, '#teach-list data-count 1', () => document.querySelector('#teach-list')?.dataset.count === '1', null, {
        show: '#teach-message, #teach-list',
      });
      const taught = page.locator('#teach-list li');
      assert.equal(await taught.count(), 1, '#teach-list li');
      assert.equal(await taught.getAttribute('data-label'), '7', 'the taught label');
      await until(run, "the model's answer for the taught digit", () => Boolean(document.querySelector('#teach-list li')?.dataset.answer), null, {
        show: '#teach-list',
      });
      const first = await taught.getAttribute('data-answer');

      await page.click('#td-resume');
      await until(
        run,
        'answer 7 for the taught digit',
        () =>
          document.querySelector('#teach-list li')?.dataset.answer === '7' ||
          ['stopped', 'done'].includes(document.querySelector('#td-status')?.dataset.state),
        null,
        { timeout: TEACH_TIMEOUT_MS, show: '#td-status, #td-message, #teach-list' },
      );
      const st = await readStatus(page, 'td');
      assert.equal(await taught.getAttribute('data-answer'), '7', `the run ended first:\n${await snapshot(page, '#td-status, #teach-list')}`);
      t.diagnostic(`${cfg.title}: the taught digit went from ${first} to 7 by step ${st.step}`);
      await pause(run, 'td');
      assertNoPanic(run.problems);
    },
  );

  test(
    `${cfg.label}: pasted text trains 50 steps with falling loss`,
    { timeout: TEXT_RUN_TIMEOUT_MS + MARGIN_MS },
    async (t) => {
      const run = await openPage(t, cfg);
      const { page } = run;
      await show(page, 'text');
      await page.selectOption('#tt-source', 'pasted');
      const text = multilingual(3000);
      await page.locator('#tt-paste').fill(text);
      assert.equal(await page.locator('#tt-paste').inputValue(), text, '#tt-paste');
      await configure(page, 'tt', { from: 'random', batch: 8, window: 32, steps: 50, 'sample-every': 25 });
      await startRun(run, 'tt');
      await waitStatus(run, 'tt', 'done', { state: 'done' }, TEXT_RUN_TIMEOUT_MS);

      const st = await readStatus(page, 'tt');
      const first = Number(st.firstLoss);
      const recent = Number(st.recentLoss);
      t.diagnostic(`${cfg.title}: loss ${first.toFixed(3)} -> ${recent.toFixed(3)} in 50 steps; ${st.charsPerSec} chars/s`);
      assert.equal(st.step, '50', 'data-step when done');
      assert.ok(st.firstLoss !== '' && Number.isFinite(first), `data-first-loss ${st.firstLoss}`);
      assert.ok(st.recentLoss !== '' && Number.isFinite(recent), `data-recent-loss ${st.recentLoss}`);
      assert.ok(recent < first - 0.5, `the loss went from ${first} to ${recent}: not down by 0.5`);
      assert.ok(Number(st.charsPerSec) > 0, `data-chars-per-sec ${st.charsPerSec}`);
      assert.equal(st.savedStep, '50', 'data-saved-step: the weights kept at the end');

      const sample = page.locator('#tt-sample');
      assert.equal(await sample.getAttribute('data-step'), '50', '#tt-sample data-step');
      const written = (await sample.textContent()).trim();
      assert.ok(written.length > 0, 'an empty #tt-sample');
      t.diagnostic(`${cfg.title}: sample ${JSON.stringify(written.slice(0, 80))}`);
      assert.ok((await canvasColours(page, '#tt-loss-chart')) > 1, '#tt-loss-chart is blank');
      const message = await readMessage(page, 'tt');
      assert.notEqual(message.kind, 'problem', `#tt-message: ${message.text}`);
      assertNoPanic(run.problems);
    },
  );

  test(`${cfg.label}: text over 4 MB is refused`, { timeout: MARGIN_MS }, async (t) => {
    const run = await openPage(t, cfg);
    const { page } = run;
    await show(page, 'text');
    await page.selectOption('#tt-source', 'pasted');
    await page.locator('#tt-paste').waitFor({ state: 'visible' });
    // fill would type 4.2 million characters; set the value and say so instead.
    await page.locator('#tt-paste').evaluate((el) => {
      el.value = 'a'.repeat(4_200_000);
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.click('#tt-start');
    await until(
      run,
      '#tt-message saying "at most 4 MB"',
      () => (document.querySelector('#tt-message')?.textContent ?? '').includes('at most 4 MB'),
      null,
      { show: shown('tt') },
    );
    const message = await readMessage(page, 'tt');
    t.diagnostic(`${cfg.title}: ${message.text}`);
    assert.equal(message.kind, 'problem', `#tt-message: ${message.text}`);
    assert.ok(!message.hidden, '#tt-message hidden');
    await until(run, '#tt-status idle', () => document.querySelector('#tt-status')?.dataset.state === 'idle', null, {
      show: shown('tt'),
    });
    const st = await readStatus(page, 'tt');
    assert.equal(st.step, '0', 'data-step after the refusal');
    assertNoPanic(run.problems);
  });
  // A lost device only exists with WebGPU: the CPU has none to lose.
  if (cfg.backend === 'gpu') {
    test(
      `${cfg.label}: a lost GPU device hands the page to the CPU kernels`,
      { timeout: stepsTimeout(10) + MARGIN_MS },
      async (t) => {
        const run = await openPage(t, cfg, '?lose-gpu-at-step=10');
        const { page } = run;
        await configure(page, 'td', { from: 'shipped', 'eval-every': 1000 });
        await startRun(run, 'td');
        await waitStatus(run, 'td', 'stopped by the lost device', { state: 'stopped' }, stepsTimeout(10));
        const message = await readMessage(page, 'td');
        assert.match(message.text, /device was lost/, '#td-message');
        t.diagnostic(`${cfg.title}: ${message.text}`);
        assert.equal((await readStatus(page, 'td')).step, '9', 'data-step: the step on the lost device does not count');
        await until(run, 'the CPU backend after the loss', () => document.querySelector('#app')?.dataset.backend === 'cpu', null, {
          show: '#app > header, #fallback-banner',
        });
        // The shipped weights (the last saved) answer on the CPU now.
        for (const digit of ['1', '7']) {
          const pred = await predictionOf(run, STROKES[digit]);
          assert.equal(pred.digit, digit, `a drawn ${digit} after the loss: ${pred.text}`);
        }
        // And training goes on, on the CPU: a new run (its start clears the message).
        await page.click('#td-start');
        await until(
          run,
          'a new run on the CPU',
          () => {
            const d = document.querySelector('#td-status')?.dataset;
            return d?.state === 'running' && Number(d.step) >= 3 && document.querySelector('#td-message')?.hidden;
          },
          null,
          { timeout: stepsTimeout(3), show: shown('td') },
        );
        await pause(run, 'td');
        assertNoPanic(run.problems);
      },
    );
  }
}
