// The Transformer on the text pad, in a real headless Chromium, with WebGPU
// and without, as someone who has read "Attention Is All You Need" uses it:
//
//   - types a sentence with the LSTM (the heatmap shows, no attention view),
//     then picks the Transformer: its file is fetched only now, the text
//     stays as typed, the next characters come from the Transformer;
//   - the attention view covers every typed character, its weights sum to
//     1, one more keystroke adds one character; another layer and head show
//     other weights, and each head's strip picks its head;
//   - a continuation, and three training steps of the Transformer in the
//     page (the model choice is locked meanwhile);
//   - back to the LSTM: the text is still there, the heatmap back;
//   - axe-core finds nothing in the text pad, and screenshots at desktop
//     and 390 px go to test-artifacts/.
//
// scripts/test runs this with the other page tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CONFIGS, artifacts, assertAccessible, launchPage, serveForTests, show, trainTextSteps, until } from './harness.mjs';

const READY_TIMEOUT_MS = 120_000;
const TEXT = 'We the people of the United States, in order to form a more perfect union';

const site = serveForTests();

async function open(cfg) {
  const run = await launchPage(cfg.args);
  const fetched = [];
  run.page.on('request', (r) => fetched.push(new URL(r.url()).pathname));
  await run.page.goto(`${site.url}#text`);
  await until(run, '#app[data-ready="true"]', () => document.querySelector('#app')?.dataset.ready === 'true', null, {
    timeout: READY_TIMEOUT_MS,
    show: '#loading-progress, #app',
  });
  const backend = await run.page.locator('#app').getAttribute('data-backend');
  assert.equal(backend, cfg.backend, `the page runs on ${backend}, not ${cfg.backend}`);
  return { ...run, fetched };
}

function assertNoPanic(problems) {
  const fatal = problems.filter((p) => p.startsWith('uncaught:') || p.includes('panicked at'));
  assert.deepEqual(fatal, [], `page errors:\n${problems.join('\n')}`);
}

/** What the attention view shows: its layer, head, characters and weights. */
function attention(page) {
  return page.evaluate(() => {
    const el = document.querySelector('#attention-text');
    const spans = [...(el?.querySelectorAll('span.att') ?? [])];
    return {
      hidden: document.querySelector('#attention')?.hidden ?? true,
      layer: el?.dataset.layer,
      head: el?.dataset.head,
      len: Number(el?.dataset.len),
      text: spans.map((s) => s.textContent).join(''),
      weights: spans.map((s) => Number(s.dataset.w)),
      strips: document.querySelectorAll('#attention-heads button.head-strip').length,
    };
  });
}

/** Waits until the attention view covers `n` characters of layer `layer`, head `head`. */
async function attentionOver(run, n, layer = 0, head = 0) {
  await until(
    run,
    `#attention-text over ${n} characters (layer ${layer}, head ${head})`,
    ([n, layer, head]) => {
      const el = document.querySelector('#attention-text');
      return (
        el &&
        !document.querySelector('#attention').hidden &&
        Number(el.dataset.len) === n &&
        el.querySelectorAll('span.att').length === n &&
        el.dataset.layer === String(layer) &&
        el.dataset.head === String(head)
      );
    },
    [n, layer, head],
    { show: '#attention, #text-model-status' },
  );
  const a = await attention(run.page);
  const sum = a.weights.reduce((s, w) => s + w, 0);
  assert.ok(Math.abs(sum - 1) < 1e-3, `layer ${layer} head ${head}: the weights sum to ${sum}`);
  assert.ok(a.weights.every((w) => w >= 0 && w <= 1), `weights outside [0, 1]: ${a.weights}`);
  return a;
}

async function nextChars(run) {
  await until(run, '#next-chars li', () => document.querySelectorAll('#next-chars li').length > 0, null, {
    show: '#next-chars',
  });
  return run.page.$$eval('#next-chars li', (lis) => lis.map((li) => li.getAttribute('data-char')));
}

async function chooseModel(run, model) {
  await run.page.selectOption('#text-model', model);
  await until(
    run,
    `#text-model on ${model}`,
    (m) => {
      const sel = document.querySelector('#text-model');
      return sel?.dataset.model === m && !sel.disabled && document.querySelector('#text-network')?.textContent.includes(m);
    },
    model,
    { show: '#text .model-choice, #text-network, #text .error' },
  );
}

async function shot(page, name, selector) {
  const file = path.join(artifacts, `${name}.png`);
  if (selector) await page.locator(selector).first().screenshot({ path: file });
  else await page.screenshot({ path: file, fullPage: true });
}

for (const cfg of CONFIGS) {
  test(`${cfg.label}: the Transformer on the text pad, with its attention`, { timeout: 900_000 }, async (t) => {
    const run = await open(cfg);
    const { page } = run;
    try {
      await show(page, 'text');
      assert.ok(!run.fetched.some((p) => p.endsWith('char_transformer.safetensors')), 'the Transformer was fetched at load');
      assert.equal(await page.locator('#text-model').getAttribute('data-model'), 'lstm');

      // The LSTM reads the sentence: bars and heatmap, no attention view.
      const input = page.locator('#text-input');
      await input.fill('');
      await input.click();
      await page.keyboard.type(TEXT);
      await nextChars(run);
      await until(run, '#gate-heatmap data-chars', () => Number(document.querySelector('#gate-heatmap')?.dataset.chars) > 0);
      assert.ok((await attention(page)).hidden, '#attention shown for the LSTM');

      // The Transformer: fetched now, the text kept.
      await chooseModel(run, 'transformer');
      assert.ok(run.fetched.some((p) => p.endsWith('char_transformer.safetensors')), 'the Transformer was not fetched');
      assert.equal(await input.inputValue(), TEXT, 'switching models changed the text');
      assert.ok(await page.locator('#heatmap-view').isHidden(), 'the heatmap is shown for the Transformer');
      const n = [...TEXT].length;
      const first = await attentionOver(run, n);
      assert.equal(first.text, TEXT, 'the attention view is not over the typed text');
      assert.equal(first.strips, 4, 'a strip per head');
      const next = await nextChars(run);
      t.diagnostic(`${cfg.title}: the Transformer's next characters after ${JSON.stringify(TEXT.slice(-12))}: ${next.join(' ')}`);

      // One more keystroke: one more character attended over.
      await page.keyboard.type(' ');
      await attentionOver(run, n + 1);

      // Layer 2, head 3, then head 4 from its strip: other weights.
      await page.selectOption('#attention-layer', { value: '1' });
      await page.selectOption('#attention-head', { value: '2' });
      const other = await attentionOver(run, n + 1, 1, 2);
      await page.click('#attention-heads button[data-head="3"]');
      const fourth = await attentionOver(run, n + 1, 1, 3);
      assert.equal(await page.locator('#attention-heads button[data-head="3"]').getAttribute('aria-pressed'), 'true');
      assert.equal(await page.locator('#attention-head').inputValue(), '3');
      assert.notDeepEqual(other.weights, fourth.weights, 'heads 3 and 4 of layer 2 weigh the same');
      t.diagnostic(`${cfg.title}: layer 2 head 4 looks most at ${await page.locator('#attention-top').innerText()}`);

      await assertAccessible(page, '#text');
      await shot(page, `transformer-${cfg.name}`, '#text');
      await page.setViewportSize({ width: 390, height: 844 });
      await page.locator('#attention').scrollIntoViewIfNeeded();
      await shot(page, `transformer-${cfg.name}-390`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `the page is ${overflow} px wider than a 390 px screen`);
      await page.setViewportSize({ width: 1280, height: 800 });

      // A continuation from the Transformer.
      await page.click('#continue');
      await until(run, 'a continuation', () => (document.querySelector('#generated')?.textContent ?? '').length > 0, null, {
        show: '#generated, #text .error',
      });

      // Three steps of training the Transformer in the page; no switching meanwhile.
      const st = await trainTextSteps(run, 3);
      t.diagnostic(`${cfg.title}: the Transformer trains at ${st.charsPerSec} chars/s in the page, loss ${st.loss}`);
      assert.ok(Number.isFinite(Number(st.loss)) && st.loss !== '', `data-loss ${st.loss}`);
      assert.ok(Number(st.charsPerSec) > 0, `data-chars-per-sec ${st.charsPerSec}`);

      // Back to the LSTM: the text as it was, the heatmap back.
      await chooseModel(run, 'lstm');
      assert.equal(await input.inputValue(), `${TEXT} `, 'switching back changed the text');
      await until(run, '#gate-heatmap data-chars', () => Number(document.querySelector('#gate-heatmap')?.dataset.chars) > 0);
      assert.ok((await attention(page)).hidden, '#attention shown for the LSTM');
      await nextChars(run);
      assertNoPanic(run.problems);
    } finally {
      await run.browser.close();
    }
  });
}
