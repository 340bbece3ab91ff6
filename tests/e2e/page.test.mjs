// The built page (dist/, from `trunk build`) in Debian's Chromium, twice:
// with WebGPU (Chromium's own CPU implementation, SwiftShader) the page must
// name WebGPU and pass its kernel self-test; without it, it must say it runs
// on the CPU. Neither may panic. scripts/test runs this after the page build.
//
// Then the page in use, once per backend: digits drawn with the mouse as a
// person would, undo and clear, the GPU-vs-CPU verify button, typed text with
// its next characters and a continuation, bad and good weights files, and the
// switch to Chinese and back. Screenshots of each view go to test-artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { errors } from 'playwright-core';
import {
  ANSWER_TIMEOUT_MS,
  CHROMIUM_ARGS,
  CONFIGS,
  DIGITS,
  WEBGPU_ARGS,
  artifacts,
  draw,
  launchPage,
  openSettings,
  polyline,
  serveForTests,
  show,
  until,
} from './harness.mjs';

// The page's self-test runs every kernel at two shapes (selftest::QUICK_DIMS)
// on SwiftShader and the wasm CPU twins: about 5 s here; the margin is for a
// busy 2-core machine.
const SELFTEST_TIMEOUT_MS = 120_000;

const site = serveForTests();

/**
 * Opens the page in a fresh headless Chromium with `args` (see launchPage),
 * closed when test `t` ends.
 */
async function openPage(t, args) {
  const run = await launchPage(args);
  t.after(() => run.browser.close());
  await run.page.goto(site.url);
  return run;
}

/**
 * Waits until #selftest's data-status is `want` or "failed" (so a failing
 * self-test ends the wait early), then returns its status and text.
 */
async function settleSelftest(page, broken, want) {
  const settled = page.waitForFunction(
    (want) => ['failed', want].includes(document.querySelector('#selftest')?.getAttribute('data-status')),
    want,
    { timeout: SELFTEST_TIMEOUT_MS },
  );
  settled.catch(() => {}); // mark handled: if `broken` wins, this rejects later
  try {
    await Promise.race([settled, broken]);
  } catch (e) {
    // On timeout, report what the page shows instead; anything else is the failure.
    if (!(e instanceof errors.TimeoutError)) throw e;
  }
  return page.evaluate(() => {
    const el = document.querySelector('#selftest');
    return { status: el?.getAttribute('data-status') ?? null, text: el?.innerText ?? '(no #selftest)' };
  });
}

function assertNoPanic(problems) {
  const fatal = problems.filter((p) => p.startsWith('uncaught:') || p.includes('panicked at'));
  assert.deepEqual(fatal, [], `page errors:\n${problems.join('\n')}`);
}

test('with WebGPU: names WebGPU and passes the kernel self-test', { timeout: SELFTEST_TIMEOUT_MS + 60_000 }, async (t) => {
  const { page, problems, broken } = await openPage(t, WEBGPU_ARGS);
  try {
    const selftest = await settleSelftest(page, broken, 'passed');
    assert.equal(selftest.status, 'passed', `self-test:\n${selftest.text}\n${problems.join('\n')}`);
    assert.match(await page.locator('#backend').innerText(), /WebGPU/);
    assert.equal(await page.locator('#fallback-banner').count(), 0, 'fallback banner shown although WebGPU is there');
  } finally {
    await page.screenshot({ path: path.join(artifacts, 'page-webgpu.png'), fullPage: true });
  }
  assertNoPanic(problems);
});

test('without WebGPU: falls back to the CPU and says so', { timeout: SELFTEST_TIMEOUT_MS + 60_000 }, async (t) => {
  const { page, problems, broken } = await openPage(t, CHROMIUM_ARGS);
  try {
    const selftest = await settleSelftest(page, broken, 'cpu-only');
    assert.equal(selftest.status, 'cpu-only', `self-test:\n${selftest.text}\n${problems.join('\n')}`);
    const banner = page.locator('#fallback-banner');
    assert.ok(await banner.isVisible(), 'no visible #fallback-banner');
    assert.match(await banner.innerText(), /CPU/);
    assert.match(await page.locator('#backend').innerText(), /CPU/);
  } finally {
    await page.screenshot({ path: path.join(artifacts, 'page-cpu.png'), fullPage: true });
  }
  assertNoPanic(problems);
});

// ---------------------------------------------------------------------------
// The page in use, on each backend.

// Fetching both models' weights and bringing the engine up (on SwiftShader
// that includes compiling every pipeline) on a busy 2-core machine.
const READY_TIMEOUT_MS = 120_000;
// A continuation is one LSTM step per character, each a round trip through
// SwiftShader on the WebGPU run.
const GENERATE_TIMEOUT_MS = 180_000;
// Everything one backend's run does, with room for the slow waits above.
const RUN_TIMEOUT_MS = 15 * 60_000;

// The page classifies at the next animation frame after each change to the
// drawing and keeps only the newest waiting drawing, so several answers can
// land after one stroke. An answer is taken as final once its region has been
// quiet this long (or three times the page's own last latency, if longer).
const DIGIT_QUIET_MS = 800;
// The same for the text views, which answer every keystroke and, while
// generating, every character.
const TEXT_QUIET_MS = 1500;

const TEXT = 'The Congress of the United';
// A combining-free accented letter, CJK and an emoji outside the BMP (two
// UTF-16 units): none is likely in the text model's vocabulary.
const ODD_TEXT = 'naïve 你好 🎉';
const CJK = /[\u3400-\u9fff]/;

/** Regions whose changes the waits follow (see watchAnswers). */
const WATCHED = {
  digit: '#prediction, #probs',
  text: '#next-chars, #generated, #gate-heatmap',
  weights: '#weights-message',
};

/** The digits the tests draw (harness.mjs), by class. */
const STROKES = Object.fromEntries(DIGITS);

// ---- Waiting for the page's answers ----------------------------------------

/**
 * Counts DOM changes inside each region of WATCHED and when the last one
 * happened, so a wait can ask for an answer newer than an action and for the
 * region to have settled: a bare attribute check would accept the answer to
 * the previous drawing or a half-typed text.
 */
async function watchAnswers(page) {
  await page.evaluate((groups) => {
    const state = Object.fromEntries(Object.keys(groups).map((g) => [g, { changes: 0, last: performance.now() }]));
    const inside = (node, sel) => {
      const el = node?.nodeType === Node.ELEMENT_NODE ? node : node?.parentElement;
      return Boolean(el?.closest(sel));
    };
    // A record touches a region when it changed something inside it, or
    // added or removed the region itself (a re-rendered list).
    const touches = (m, sel) =>
      inside(m.target, sel) ||
      [...m.addedNodes, ...m.removedNodes].some(
        (n) => n.nodeType === Node.ELEMENT_NODE && (n.matches(sel) || n.querySelector(sel)),
      );
    new MutationObserver((records) => {
      const now = performance.now();
      for (const [g, sel] of Object.entries(groups)) {
        if (records.some((m) => touches(m, sel))) {
          state[g].changes += 1;
          state[g].last = now;
        }
      }
    }).observe(document.body, { attributes: true, childList: true, characterData: true, subtree: true });
    window.__answers = {
      count: (g) => state[g].changes,
      settled: (g, since, quietMs) => state[g].changes > since && performance.now() - state[g].last >= quietMs,
    };
  }, WATCHED);
}

/** How many changes region `group` has seen: pass it to a wait as `since`. */
function mark(page, group) {
  return page.evaluate((g) => window.__answers.count(g), group);
}

/** Waits for #app[data-ready="true"]: both models loaded, the engine up. */
async function waitReady(run) {
  await until(run, '#app[data-ready="true"]', () => document.querySelector('#app')?.dataset.ready === 'true', null, {
    timeout: READY_TIMEOUT_MS,
    // #loading stays until the wasm starts, then #loading-progress and
    // #app's attributes say how far it got.
    show: '#loading, #loading-progress, #app',
  });
}

/** #prediction and the bars, as numbers. */
function readPrediction(page) {
  return page.evaluate(() => {
    const el = document.querySelector('#prediction');
    return {
      state: el?.dataset.state,
      digit: el?.dataset.digit,
      text: el?.innerText ?? '',
      ariaLive: el?.getAttribute('aria-live'),
      netMs: Number(el?.dataset.netMs),
      latencyMs: Number(el?.dataset.latencyMs),
      bars: [...document.querySelectorAll('#probs [data-digit]')].map((b) => ({
        digit: b.dataset.digit,
        p: Number(b.dataset.p),
      })),
    };
  });
}

/** The prediction once the drawing's answers after change `since` have settled. */
async function predictionAfter(run, since) {
  await until(
    run,
    'settled prediction',
    ([since, quiet]) => {
      const el = document.querySelector('#prediction');
      const latency = Number(el?.dataset.latencyMs) || 0;
      return el?.dataset.state === 'ready' && window.__answers.settled('digit', since, Math.max(quiet, 3 * latency));
    },
    [since, DIGIT_QUIET_MS],
    { show: '#prediction' },
  );
  return readPrediction(run.page);
}

/** Waits for the empty state: no drawing, no answer. */
async function waitEmpty(run, why) {
  await until(
    run,
    `empty #prediction ${why}`,
    () => {
      const el = document.querySelector('#prediction');
      return el?.dataset.state === 'empty' && el.dataset.digit === '';
    },
    null,
    { show: '#prediction' },
  );
  const pred = await readPrediction(run.page);
  assert.match(pred.text, /draw a digit/i, `#prediction ${why}`);
  return pred;
}

async function clearDrawing(run) {
  if (!(await run.page.locator('#clear').isVisible())) await show(run.page, 'draw');
  await run.page.click('#clear');
  await waitEmpty(run, 'after #clear');
}

/** "7: 98.1%, 1: 1.2%, …" for failure messages. */
function topClasses(pred) {
  return [...pred.bars]
    .sort((a, b) => b.p - a.p)
    .slice(0, 3)
    .map((b) => `${b.digit}: ${(100 * b.p).toFixed(1)}%`)
    .join(', ');
}

/** Ten bars, one per class, a distribution whose best class is #prediction's. */
function checkBars(pred) {
  assert.deepEqual(
    pred.bars.map((b) => b.digit).sort(),
    ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    'one #probs bar per class',
  );
  for (const { digit, p } of pred.bars) assert.ok(p >= 0 && p <= 1, `bar ${digit}: data-p ${p} outside [0, 1]`);
  const sum = pred.bars.reduce((s, b) => s + b.p, 0);
  assert.ok(Math.abs(sum - 1) < 1e-3, `the bars sum to ${sum}`);
  const best = pred.bars.reduce((a, b) => (b.p > a.p ? b : a));
  assert.equal(pred.digit, best.digit, `data-digit is not the tallest bar (${topClasses(pred)})`);
  assert.ok(Number.isFinite(pred.netMs) && pred.netMs >= 0, `data-net-ms ${pred.netMs}`);
  assert.ok(Number.isFinite(pred.latencyMs) && pred.latencyMs >= 0, `data-latency-ms ${pred.latencyMs}`);
}

/** Largest difference between two sets of bars, class by class. */
function barsDiff(a, b) {
  const pb = Object.fromEntries(b.bars.map((x) => [x.digit, x.p]));
  return Math.max(...a.bars.map((x) => Math.abs(x.p - pb[x.digit])));
}

/** #next-chars as { total, items: [{ char, p }] }. */
function readNextChars(page) {
  return page.evaluate(() => {
    const list = document.querySelector('#next-chars');
    return {
      total: list?.getAttribute('data-total') ?? null,
      items: [...(list?.querySelectorAll('li') ?? [])].map((li) => ({
        char: li.getAttribute('data-char'),
        p: Number(li.getAttribute('data-p')),
      })),
    };
  });
}

/** The next characters once the text's answers after change `since` have settled. */
async function nextCharsAfter(run, since) {
  await until(
    run,
    'settled #next-chars li',
    ([since, quiet]) =>
      document.querySelectorAll('#next-chars li').length > 0 && window.__answers.settled('text', since, quiet),
    [since, TEXT_QUIET_MS],
    { show: '#next-chars' },
  );
  return readNextChars(run.page);
}

/**
 * At most ten characters, each with a probability, most likely first; they
 * are part of one distribution, so their sum is at most 1 (rounding aside)
 * and, for text the model knows, well above `minSum`.
 */
function checkNextChars({ items, total }, minSum) {
  const shown = items.map((i) => `${JSON.stringify(i.char)}: ${i.p}`).join(', ');
  assert.ok(items.length >= 1 && items.length <= 10, `${items.length} #next-chars li`);
  for (const { char, p } of items) {
    assert.ok(char !== null && char !== '', `an li without data-char (${shown})`);
    assert.ok(p >= 0 && p <= 1, `data-p ${p} outside [0, 1] (${shown})`);
  }
  for (let i = 1; i < items.length; i++) assert.ok(items[i].p <= items[i - 1].p, `not sorted: ${shown}`);
  const sum = items.reduce((s, i) => s + i.p, 0);
  assert.ok(sum > minSum && sum <= 1.0001, `the next characters' probabilities sum to ${sum} (${shown})`);
  // data-total is the sum of the shown values; allow for their rounding.
  if (total !== null) assert.ok(Math.abs(Number(total) - sum) < 5e-3, `data-total ${total}, the li sum to ${sum}`);
}

/** The text of #generated (a form control's value, else its text). */
function readGenerated(page) {
  return page.evaluate(() => {
    const el = document.querySelector('#generated');
    if (!el) return null;
    return typeof el.value === 'string' && el.tagName !== 'OUTPUT' ? el.value : el.textContent;
  });
}

/**
 * Presses #continue and returns #generated once it holds a continuation of
 * `prompt`, the text views have settled and #continue is enabled again (the
 * page disables it while it generates).
 */
async function continueText(run, prompt) {
  const since = await mark(run.page, 'text');
  await run.page.click('#continue');
  await until(
    run,
    'continuation in #generated',
    ([since, quiet, prompt]) => {
      const el = document.querySelector('#generated');
      const text = el && (typeof el.value === 'string' && el.tagName !== 'OUTPUT' ? el.value : el.textContent);
      return (
        Boolean(text) &&
        text.length > prompt.length &&
        !document.querySelector('#continue')?.disabled &&
        window.__answers.settled('text', since, quiet)
      );
    },
    [since, TEXT_QUIET_MS, prompt],
    { timeout: GENERATE_TIMEOUT_MS, show: '#generated' },
  );
  const generated = await readGenerated(run.page);
  assert.ok(generated.startsWith(prompt), `#generated does not start with ${JSON.stringify(prompt)}: ${JSON.stringify(generated)}`);
  assert.ok([...generated].length > [...prompt].length, `#generated adds nothing: ${JSON.stringify(generated)}`);
  return generated;
}

/**
 * Sets a number input as a person does: fill types the value (input events
 * only), and the page may listen for change, which a person's blur fires.
 */
async function setNumber(page, selector, value) {
  const input = page.locator(selector);
  await input.fill(String(value));
  await input.dispatchEvent('change');
}

/** Moves a range input to the middle of its range (on its step), with input and change events. */
async function setRangeMiddle(page, selector) {
  return page.locator(selector).evaluate((el) => {
    const min = Number(el.min || 0);
    const max = Number(el.max || 100);
    const step = Number(el.step) || 1;
    el.value = String(min + Math.round((max - min) / 2 / step) * step);
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
    return el.value;
  });
}

// ---- Weights files ---------------------------------------------------------

/** Bytes of a fixed pseudo-random sequence (mulberry32), so a failure repeats. */
function noise(length, seed = 12345) {
  const out = Buffer.alloc(length);
  let a = seed >>> 0;
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) & 0xff;
  }
  return out;
}

const DTYPE_BYTES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/**
 * Checks that `buf` is a well-formed safetensors file (8-byte little-endian
 * header length, JSON header, every tensor's bytes inside the file and the
 * size its shape says) and returns its tensors by name.
 */
function parseSafetensors(buf, what) {
  assert.ok(buf.length >= 8, `${what}: ${buf.length} bytes`);
  const headerLen = Number(buf.readBigUInt64LE(0));
  assert.ok(8 + headerLen <= buf.length, `${what}: header of ${headerLen} bytes in a file of ${buf.length}`);
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8'));
  const dataLen = buf.length - 8 - headerLen;
  const tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = info.data_offsets;
    assert.ok(begin >= 0 && begin <= end && end <= dataLen, `${what}: ${name} at ${begin}..${end} of ${dataLen}`);
    const size = DTYPE_BYTES[info.dtype];
    assert.ok(size, `${what}: ${name} has dtype ${info.dtype}`);
    const count = info.shape.reduce((a, b) => a * b, 1);
    assert.equal(end - begin, count * size, `${what}: ${name} ${info.dtype}${JSON.stringify(info.shape)} bytes`);
    tensors[name] = info;
  }
  assert.ok(Object.keys(tensors).length > 0, `${what}: no tensors`);
  return tensors;
}

/** Clicks a download button and returns the file's bytes. */
async function download(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: ANSWER_TIMEOUT_MS }), page.click(selector)]);
  const file = await dl.path();
  assert.ok(file, `${selector}: the download failed (${await dl.failure()})`);
  return readFile(file);
}

/**
 * Gives #weights-upload a file and waits until #weights-message says
 * something new (the kinds of the uploads below alternate, so each answer
 * changes it); returns the message's kind and text.
 */
async function upload(run, name, buffer) {
  const since = await mark(run.page, 'weights');
  await run.page.setInputFiles('#weights-upload', { name, mimeType: 'application/octet-stream', buffer });
  await until(
    run,
    `#weights-message for ${name}`,
    ([since, quiet]) =>
      ['ok', 'error'].includes(document.querySelector('#weights-message')?.dataset.kind) &&
      window.__answers.settled('weights', since, quiet),
    [since, 300],
    { show: '#weights-message' },
  );
  return run.page.locator('#weights-message').evaluate((el) => ({ kind: el.dataset.kind, text: el.innerText.trim() }));
}

// ---- Screenshots -----------------------------------------------------------

/**
 * Saves test-artifacts/NAME.png: the element `selector` where the page has
 * one, else the whole page. Never fails the test: it runs in finally blocks,
 * where it must not hide the real failure.
 */
async function shot(page, name, selector) {
  const file = path.join(artifacts, `${name}.png`);
  try {
    const el = selector ? page.locator(selector).first() : null;
    if (el && (await el.count()) > 0 && (await el.isVisible())) await el.screenshot({ path: file });
    else await page.screenshot({ path: file, fullPage: true });
  } catch (e) {
    console.error(`screenshot ${name}: ${e.message}`);
  }
}

// ---- The tests -------------------------------------------------------------

for (const cfg of CONFIGS) {
  test(`${cfg.label}: digits, verify, text, weights and language`, { timeout: RUN_TIMEOUT_MS }, async (t) => {
    const run = await openPage(t, cfg.args);
    const { page } = run;
    await waitReady(run);
    assert.equal(await page.locator('#app').getAttribute('data-backend'), cfg.backend, '#app data-backend');
    if (cfg.backend === 'gpu') {
      assert.match(await page.locator('#backend').innerText(), /WebGPU/);
    } else {
      assert.ok(await page.locator('#fallback-banner').isVisible(), 'no visible #fallback-banner');
    }
    await watchAnswers(page);

    // Subtests share the page, one after another; each starts from a
    // cleared drawing, so one failing does not spoil the next.
    await t.test('empty canvas: the live region asks for a digit', async () => {
      const pred = await readPrediction(page);
      assert.equal(pred.ariaLive, 'polite', '#prediction aria-live');
      assert.equal(pred.state, 'empty');
      assert.equal(pred.digit, '');
      assert.match(pred.text, /draw a digit/i);
    });

    await t.test('drawn digits get their class', async () => {
      const wrong = [];
      try {
        for (const [digit, strokes] of DIGITS) {
          await clearDrawing(run);
          const since = await mark(page, 'digit');
          await draw(page, strokes);
          const pred = await predictionAfter(run, since);
          checkBars(pred);
          if (pred.digit !== digit) {
            wrong.push(`drew ${digit}, the page says ${pred.digit} (${topClasses(pred)})`);
            await shot(page, `drawn-${digit}-${cfg.name}`, '#draw-canvas');
          }
        }
      } finally {
        await shot(page, `draw-${cfg.name}`, '#draw');
      }
      assert.deepEqual(wrong, []);
    });

    await t.test('undo removes the last stroke, then the drawing', async () => {
      await clearDrawing(run);
      let since = await mark(page, 'digit');
      await draw(page, STROKES['1']);
      const one = await predictionAfter(run, since);
      assert.equal(one.digit, '1', `a vertical line: ${topClasses(one)}`);

      // A bar across the middle: the drawing is no longer a plain 1.
      since = await mark(page, 'digit');
      await draw(page, [polyline([[40, 140], [240, 140]])]);
      const crossed = await predictionAfter(run, since);
      assert.ok(barsDiff(crossed, one) > 1e-3, 'the second stroke did not change the answer');

      since = await mark(page, 'digit');
      await page.click('#undo');
      const undone = await predictionAfter(run, since);
      assert.equal(undone.digit, '1', `after undo: ${topClasses(undone)}`);
      // Undo repaints the remaining strokes in one go where the mouse painted
      // them piece by piece, so the pixels, and the bars, may differ a little.
      assert.ok(barsDiff(undone, one) < 0.05, `after undo the bars moved by ${barsDiff(undone, one)}`);

      await page.click('#undo');
      await waitEmpty(run, 'after undoing the only stroke');
      // Nothing left to undo: harmless.
      await page.click('#undo');
      await page.waitForTimeout(300);
      assert.equal((await readPrediction(page)).state, 'empty', 'undo on an empty canvas');
    });

    await t.test('verify: the active backend agrees with the CPU reference', async () => {
      try {
        await clearDrawing(run);
        const since = await mark(page, 'digit');
        await draw(page, STROKES['7']);
        await predictionAfter(run, since);
        await page.click('#verify');
        // data-max-diff is empty until a verify run has answered.
        await until(run, '#verify-result[data-max-diff]', () => Boolean(document.querySelector('#verify-result')?.dataset.maxDiff), null, {
          show: '#verify-result',
        });
        const result = page.locator('#verify-result');
        const diff = Number(await result.getAttribute('data-max-diff'));
        assert.ok(
          Number.isFinite(diff) && diff >= 0 && diff < 1e-3,
          `max difference ${diff}: ${await result.innerText()}`,
        );
      } finally {
        await show(page, 'inside');
        await shot(page, `inside-${cfg.name}`, '#inside');
        await show(page, 'draw');
      }
    });

    await t.test('text: next characters and a continuation', async () => {
      try {
        await show(page, 'text');
        const input = page.locator('#text-input');
        await input.fill('');
        const since = await mark(page, 'text');
        await input.click();
        await page.keyboard.type(TEXT);
        assert.equal(await input.inputValue(), TEXT);
        const next = await nextCharsAfter(run, since);
        checkNextChars(next, 0.3);
        const heat = Number(await page.locator('#gate-heatmap').getAttribute('data-chars'));
        assert.ok(Number.isInteger(heat) && heat > 0, `#gate-heatmap data-chars ${heat}`);

        // With top-k 1 sampling keeps only the most likely character, whatever
        // the temperature and seed: the continuation must start with the
        // first of the next characters shown (sampling never picks the
        // unknown symbol, U+FFFD, should the list show it).
        await setRangeMiddle(page, '#temperature');
        await setNumber(page, '#top-k', 1);
        await setNumber(page, '#seed', 1);
        const greedy = await continueText(run, TEXT);
        const likeliest = next.items.find((i) => i.char !== '\uFFFD')?.char;
        assert.equal(
          [...greedy][[...TEXT].length],
          likeliest,
          `top-k 1: ${JSON.stringify(greedy)}; most likely next: ${JSON.stringify(likeliest)}`,
        );

        // Sampling among ten at another seed.
        await setNumber(page, '#top-k', 10);
        await setNumber(page, '#seed', 42);
        await continueText(run, TEXT);
      } finally {
        await shot(page, `text-${cfg.name}`, '#text');
      }
    });

    await t.test('text: odd Unicode still gets an answer', async () => {
      const input = page.locator('#text-input');
      await input.fill('');
      const since = await mark(page, 'text');
      await input.click();
      await page.keyboard.type(ODD_TEXT);
      assert.equal(await input.inputValue(), ODD_TEXT);
      // Characters outside the vocabulary still leave a distribution, just
      // not a confident one.
      checkNextChars(await nextCharsAfter(run, since), 0);
      await continueText(run, ODD_TEXT);
    });

    await t.test('weights: downloads are valid files; a bad upload is refused and changes nothing', async () => {
      await show(page, 'service');
      const digits = await download(page, '#download-digits');
      const digitTensors = parseSafetensors(digits, 'downloaded digit model');
      // PyTorch's state_dict names of the classifier (README).
      for (const name of ['conv1.weight', 'conv1.bias', 'conv2.weight', 'fc1.weight', 'fc2.weight', 'fc2.bias']) {
        assert.ok(name in digitTensors, `downloaded digit model lacks ${name}`);
      }
      assert.deepEqual(digitTensors['fc2.bias'].shape, [10]);
      parseSafetensors(await download(page, '#download-text'), 'downloaded text model');

      try {
        const random = await upload(run, 'bad.safetensors', noise(4096));
        assert.equal(random.kind, 'error', `random bytes: ${random.text}`);
        assert.ok(random.text.length > 0, 'an error without a message');
      } finally {
        await shot(page, `weights-error-${cfg.name}`, '#weights');
      }
      // The page's own file goes back in; then one cut off in the middle of
      // its tensors, whose header is intact, must be refused too.
      const good = await upload(run, 'mnist_cnn.safetensors', digits);
      assert.equal(good.kind, 'ok', `the downloaded digit model: ${good.text}`);
      const cut = await upload(run, 'cut.safetensors', digits.subarray(0, Math.floor(digits.length / 2)));
      assert.equal(cut.kind, 'error', `a truncated file: ${cut.text}`);
      await waitReady(run);

      await clearDrawing(run);
      const since = await mark(page, 'digit');
      await draw(page, STROKES['1']);
      const pred = await predictionAfter(run, since);
      checkBars(pred);
      assert.equal(pred.digit, '1', `after the bad uploads: ${topClasses(pred)}`);
    });

    await t.test('language: Chinese and back', async () => {
      await clearDrawing(run);
      const clearButton = page.locator('#clear');
      const english = await clearButton.innerText();
      try {
        await openSettings(page);
        await page.selectOption('#lang', 'zh');
        await until(run, '<html lang="zh-CN">', () => document.documentElement.lang === 'zh-CN');
        await until(run, 'a Chinese #clear label', (en) => document.querySelector('#clear')?.innerText !== en, english, {
          show: '#clear',
        });
        assert.match(await clearButton.innerText(), CJK, '#clear in Chinese');
        const prompt = await page.locator('#prediction').innerText();
        assert.match(prompt, CJK, 'the empty #prediction in Chinese');
        assert.doesNotMatch(prompt, /draw a digit/i);
      } finally {
        await shot(page, `zh-${cfg.name}`);
      }
      await page.selectOption('#lang', 'en');
      await until(run, '<html lang="en">', () => /^en\b/.test(document.documentElement.lang));
      await until(run, 'the English #clear label', (en) => document.querySelector('#clear')?.innerText === en, english, {
        show: '#clear',
      });
      assert.match(await page.locator('#prediction').innerText(), /draw a digit/i);
    });

    assertNoPanic(run.problems);
  });
}
