// The model lab in a real headless Chromium, with WebGPU and without, as a
// teacher uses it in front of a class:
//
//   - builds a variant in the editor: a copy of the seed CNN whose pooling
//     becomes average pooling and whose dense layer becomes sigmoid, checked
//     on the picture's boxes;
//   - makes an edit that breaks it (flatten moved before a pooling layer):
//     refused on the layer named, Train off until it is undone;
//   - trains both networks the same steps, interleaved: both curves drawn in
//     their colours, the table filled with sizes, ms per step and accuracy;
//   - puts the variant on the page and reads a drawn digit with it, the
//     inside view showing its average pooling;
//   - the copied link opens the same experiment in a new browser, a garbled
//     link falls back to the defaults with a message, a reload keeps the runs;
//   - a text experiment (plain RNN beside the LSTM, then the Transformer
//     beside the LSTM) trains and reports bits per character and what each
//     network writes;
//   - axe-core finds nothing in the lab, and screenshots at desktop and
//     phone width go to test-artifacts/.
//
// scripts/test runs this with the other page tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CONFIGS, DIGITS, artifacts, assertAccessible, draw, launchPage, serveForTests, show, until } from './harness.mjs';

const READY_TIMEOUT_MS = 120_000;
const TRAIN_TIMEOUT_MS = 300_000;
const STROKES = Object.fromEntries(DIGITS);
/** Steps each network trains: enough for the ReLU network to pull ahead. */
const STEPS = 40;

const site = serveForTests();

async function open(cfg, hash = '#lab') {
  const run = await launchPage(cfg.args);
  await run.page.goto(site.url + hash);
  await until(run, '#app[data-ready="true"]', () => document.querySelector('#app')?.dataset.ready === 'true', null, {
    timeout: READY_TIMEOUT_MS,
    show: '#loading-progress, #app',
  });
  const backend = await run.page.locator('#app').getAttribute('data-backend');
  assert.equal(backend, cfg.backend, `the page runs on ${backend}, not ${cfg.backend}`);
  return run;
}

async function setValue(page, selector, value) {
  await page.locator(selector).fill(String(value));
  await page.locator(selector).dispatchEvent('change');
}

/** The picture's boxes: [type, shape, broken] per layer. */
function boxes(page) {
  return page.$$eval('#lab-picture button', (bs) => bs.map((b) => [b.dataset.type, b.dataset.shape, b.dataset.broken]));
}

/** The variant tabs' names. */
function variants(page) {
  return page.$$eval('.variant-tab', (bs) => bs.map((b) => b.textContent.trim()));
}

function assertNoPanic(problems) {
  const fatal = problems.filter((p) => p.startsWith('uncaught:') || p.includes('panicked at'));
  assert.deepEqual(fatal, [], `page errors:\n${problems.join('\n')}`);
}

/** Pixels of `canvas` near the colour [r, g, b]. */
function pixelsOf(page, canvas, [r, g, b]) {
  return page.locator(canvas).evaluate(
    (c, [r, g, b]) => {
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 40) n++;
      return n;
    },
    [r, g, b],
  );
}

/** Trains what the lab shows until every run is done; returns the table's rows. */
async function trainAll(run) {
  const { page } = run;
  await page.click('#lab-train');
  await until(run, 'every lab run done', () => ['done', 'stopped'].includes(document.querySelector('#lab-status')?.dataset.state), null, {
    timeout: TRAIN_TIMEOUT_MS,
    show: '#lab-status, #lab-message, #lab-runs',
  });
  assert.equal(await page.locator('#lab-status').getAttribute('data-state'), 'done', await page.locator('#lab-message').innerText());
  return page.$$eval('#lab-runs tbody tr', (rows) =>
    rows.map((r) => ({
      step: Number(r.dataset.step),
      result: Number(r.dataset.result),
      cells: [...r.querySelectorAll('th, td')].map((c) => c.innerText.trim()),
    })),
  );
}

for (const cfg of CONFIGS) {
  test(`${cfg.label}: a variant built in the lab trains beside the seed CNN, reads the pad and travels as a link`, { timeout: READY_TIMEOUT_MS * 3 + TRAIN_TIMEOUT_MS + 120_000 }, async (t) => {
    const run = await open(cfg);
    t.after(() => run.browser.close());
    const { page } = run;
    assert.deepEqual(await variants(page), ['seed-cnn', 'sigmoid-cnn'], 'the lab opens with the seed CNN beside its sigmoid twin');

    // The variant: the seed CNN copied, average pooling, a sigmoid dense layer.
    await page.click('#lab-variant-1');
    await page.click('#lab-remove-variant');
    await page.click('#lab-add-variant');
    assert.deepEqual(await variants(page), ['seed-cnn', 'seed-cnn (2)']);
    await setValue(page, '#lab-variant-name', 'avg + sigmoid');
    for (const at of [1, 3]) {
      await page.click(`#lab-picture-layer-${at}`);
      await page.selectOption('#lab-type', 'avg_pool2d');
    }
    await page.click('#lab-picture-layer-5');
    await page.selectOption('#lab-field-activation', 'sigmoid');
    assert.deepEqual(
      (await boxes(page)).map((b) => b.slice(0, 2)),
      [
        ['conv2d', '26×26×32'],
        ['avg_pool2d', '13×13×32'],
        ['conv2d', '11×11×64'],
        ['avg_pool2d', '5×5×64'],
        ['flatten', '1600'],
        ['dense', '64'],
        ['dense', '10'],
      ],
    );
    assert.match(await page.locator('#lab-picture-layer-5').innerText(), /64 sigmoid/);
    assert.match(await page.locator('#lab-summary').innerText(), /121\.9 k parameters · 2\.56 M multiply-adds per image/);

    // A broken edit: flatten before the second pooling.
    await page.click('#lab-picture-layer-4');
    await page.click('#lab-move-up');
    await until(run, 'the broken layer marked', () => document.querySelector('#lab-picture-layer-4')?.dataset.broken === 'true', null, {
      show: '#lab-picture, #lab-problem',
    });
    assert.match(await page.locator('#lab-problem').innerText(), /layer 4 \(avg_pool2d 2x2\) needs feature maps/);
    assert.ok(await page.locator('#lab-train').isDisabled(), 'Train stays off while a network cannot work');
    assert.match(await page.locator('#lab-fix-first').innerText(), /avg \+ sigmoid/);
    assert.equal(await page.locator('#lab-variant-1').getAttribute('data-broken'), 'true');
    // Focus stays on the button pressed, for the keyboard.
    await page.click('#lab-picture-layer-3');
    await page.focus('#lab-move-down');
    await page.keyboard.press('Enter');
    await until(run, 'the network fixed', () => !document.querySelector('#lab-picture [data-broken="true"]'), null, { show: '#lab-picture' });
    await until(run, 'the focus back on Move down', () => document.activeElement?.id === 'lab-move-down', null, { show: '#lab-editor' });
    assert.ok(await page.locator('#lab-train').isEnabled(), 'Train is back once the network works');

    await setValue(page, '#lab-steps', STEPS);
    await setValue(page, '#lab-eval-every', STEPS / 2);
    const rows = await trainAll(run);
    t.diagnostic(`${cfg.title}: ${rows.map((r) => r.cells.slice(0, 5).join(' | ')).join('  ;  ')}`);
    assert.equal(rows.length, 2);
    for (const r of rows) {
      assert.equal(r.step, STEPS, `a run took ${r.step} steps`);
      assert.ok(r.result > 0 && r.result <= 1, `a test accuracy of ${r.result}`);
      assert.match(r.cells[1], /121\.9 k/, 'parameters');
      assert.match(r.cells[2], /2\.5[36] M/, 'multiply-adds');
      assert.match(r.cells[3], /^\d+(\.\d)?$/, `ms per step: ${r.cells[3]}`);
    }
    assert.ok(rows[0].result > 0.5, `the seed CNN at ${rows[0].result} after ${STEPS} steps`);
    // Both curves, each in its colour (Okabe-Ito blue and orange).
    for (const chart of ['#lab-loss-chart', '#lab-test-chart']) {
      for (const colour of [[0, 114, 178], [230, 159, 0]]) {
        assert.ok((await pixelsOf(page, chart, colour)) > 20, `${chart} has no line in rgb(${colour})`);
      }
    }

    // The variant on the page: the pad reads with it, the inside view shows it.
    await page.click('#lab-use-1');
    await until(run, 'the variant on the page', () => document.querySelector('#lab-use-1')?.getAttribute('aria-pressed') === 'true', null, {
      show: '#lab-runs, #lab-message',
    });
    assert.match(await page.locator('#lab-use-message').innerText(), /avg \+ sigmoid/);
    await draw(page, STROKES['7']);
    await until(run, 'a prediction with the variant', () => document.querySelector('#prediction')?.dataset.state === 'ready', null, { show: '#prediction' });
    await until(run, 'both runs read the drawing', () => [...document.querySelectorAll('#lab-runs td.reads')].every((c) => /^\d \(\d+%\)$/.test(c.innerText.trim())), null, {
      show: '#lab-runs',
    });
    await assertAccessible(page, '#lab');
    await page.locator('#app').screenshot({ path: path.join(artifacts, `lab-desktop-${cfg.name}.png`) });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(artifacts, `lab-phone-${cfg.name}.png`), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await show(page, 'inside');
    await until(run, 'the inside view of the variant', () => document.querySelector('#inside-picture-layer-1')?.dataset.type === 'avg_pool2d', null, {
      show: '#inside-picture',
    });

    // The link opens the same experiment, ready to train, in a new browser.
    await show(page, 'lab');
    const mine = await boxes(page);
    await page.click('#lab-copy-link');
    await until(run, 'a link to copy', () => /#lab&exp=/.test(document.querySelector('#lab-link')?.value ?? ''), null, { show: '.lab-link' });
    const link = await page.locator('#lab-link').inputValue();
    const other = await open(cfg, link.slice(link.indexOf('#')));
    t.after(() => other.browser.close());
    assert.deepEqual(await variants(other.page), ['seed-cnn', 'avg + sigmoid']);
    await other.page.click('#lab-variant-1');
    assert.deepEqual(await boxes(other.page), mine);
    assert.equal(await other.page.locator('#lab-steps').inputValue(), String(STEPS));
    assert.ok(await other.page.locator('#lab-opened').isVisible(), 'the lab says it opened the link');
    assert.ok(await other.page.locator('#lab-train').isEnabled(), 'ready to train');

    // A garbled link: a message and the defaults, never a hang.
    await other.page.goto(`${site.url}#lab&exp=${'x'.repeat(300)}!`);
    await until(other, 'the link refused with a message', () => /garbled/.test(document.querySelector('#link-problem')?.innerText ?? ''), null, {
      show: '#link-problem',
    });
    await other.page.goto(`${site.url}#lab&exp=${encodeURIComponent('{"not": "an experiment"}')}`);
    await until(other, 'a second bad link refused', () => !document.querySelector('#link-problem')?.hidden, null, { show: '#link-problem' });
    assertNoPanic(other.problems);

    // A reload keeps the runs, their results and their weights.
    await page.reload();
    await until(run, '#app ready after the reload', () => document.querySelector('#app')?.dataset.ready === 'true', null, { timeout: READY_TIMEOUT_MS });
    await until(run, 'the runs back from this browser', () => document.querySelectorAll('#lab-runs tbody tr').length === 2, null, {
      show: '#lab-runs, #lab-restored',
    });
    assert.ok(await page.locator('#lab-restored').isVisible());
    const back = await page.$$eval('#lab-runs tbody tr', (rs) => rs.map((r) => Number(r.dataset.result)));
    assert.deepEqual(back, rows.map((r) => r.result), 'the results after the reload');
    await page.click('#lab-remove-0');
    await until(run, 'one run left', () => document.querySelectorAll('#lab-runs tbody tr').length === 1, null, { show: '#lab-runs' });
    assertNoPanic(run.problems);
  });

  test(`${cfg.label}: the lab compares a plain RNN, then the Transformer, with the LSTM on text`, { timeout: READY_TIMEOUT_MS + 2 * TRAIN_TIMEOUT_MS + 60_000 }, async (t) => {
    const run = await open(cfg);
    t.after(() => run.browser.close());
    const { page } = run;
    await page.check('#lab-task-text');
    await until(run, 'the text networks', () => document.querySelectorAll('.variant-tab').length === 2, null, { show: '.variant-tabs' });
    assert.deepEqual(await variants(page), ['seed-lstm', 'rnn-128']);
    assert.ok(!(await page.locator('#pad').isVisible()), 'no drawing pad beside text networks');
    // The cell of the RNN is a menu: it becomes a GRU and back.
    await page.click('#lab-variant-1');
    await page.click('#lab-picture-layer-1');
    await page.selectOption('#lab-type', 'gru');
    assert.equal(await page.locator('#lab-picture-layer-1').getAttribute('data-type'), 'gru');
    await page.selectOption('#lab-type', 'rnn');
    await setValue(page, '#lab-steps', 12);
    await setValue(page, '#lab-eval-every', 12);
    const rows = await trainAll(run);
    t.diagnostic(`${cfg.title}: ${rows.map((r) => r.cells.slice(0, 5).join(' | ')).join('  ;  ')}`);
    for (const r of rows) {
      assert.equal(r.step, 12);
      assert.ok(r.result > 1 && r.result < 8, `held-out bits per character ${r.result}`);
      assert.match(r.cells[5], /^The /, `a sample that continues the prompt: ${r.cells[5]}`);
    }

    // The Transformer beside the LSTM: the same text, the same steps.
    await page.click('#lab-clear');
    await page.click('#lab-variant-1');
    await page.selectOption('#lab-preset', 'transformer-char');
    await until(run, 'the Transformer variant', () => document.querySelector('#lab-picture-layer-1')?.dataset.type === 'transformer', null, {
      show: '#lab-picture',
    });
    assert.deepEqual(await variants(page), ['seed-lstm', 'transformer-char']);
    // Its dropout is the blocks' own (PyTorch's dropout1, feed-forward
    // dropout and dropout2), so training below runs its masks on this backend.
    await page.click('#lab-picture-layer-1');
    const dropout = page.locator('label', { has: page.locator('#lab-field-dropout') });
    assert.match(await dropout.innerText(), /Dropout inside each block/);
    await setValue(page, '#lab-field-dropout', 0.1);
    await until(run, 'the dropout in the picture', () => /dropout 0\.1/.test(document.querySelector('#lab-picture-layer-1')?.innerText ?? ''), null, {
      show: '#lab-picture',
    });
    const versus = await trainAll(run);
    t.diagnostic(`${cfg.title}: ${versus.map((r) => r.cells.slice(0, 5).join(' | ')).join('  ;  ')}`);
    assert.equal(versus.length, 2, 'one row per network');
    for (const r of versus) {
      assert.equal(r.step, 12);
      assert.ok(r.result > 1 && r.result < 8, `held-out bits per character ${r.result}`);
      assert.match(r.cells[5], /^The /, `a sample that continues the prompt: ${r.cells[5]}`);
    }
    assert.match(versus[1].cells[0], /transformer-char/);
    await assertAccessible(page, '#lab');
    assertNoPanic(run.problems);
  });
}
