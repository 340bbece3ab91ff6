// The Tang poems (唐诗) on the text pad, in a real headless Chromium with
// WebGPU and without, as a Chinese teacher shows a class:
//
//   - the page in Chinese starts on the poem model (fetched then, not
//     before); typing 床前明月光 gives Chinese next characters, and the
//     gate view reads the Chinese text;
//   - a continuation in the form of five- and then seven-character lines
//     comes out well formed (a sampling mask: the model writes the
//     characters, the form puts ，and 。);
//   - switching to the English model and back keeps the text;
//   - three training steps on the poems excerpt, from the shipped weights;
//   - axe-core finds nothing in the text pad; screenshots at desktop and
//     390 px (with a CJK font, fonts-wqy-microhei) go to test-artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CONFIGS, artifacts, assertAccessible, launchPage, serveForTests, trainTextSteps, until } from './harness.mjs';

const READY_TIMEOUT_MS = 120_000;
const PROMPT = '床前明月光';
const HAN = /^\p{Script=Han}$/u;

const site = serveForTests();

/** Whether `text` (what came after a prompt ending in ，) is lines of `n` Chinese characters, 。 and ， alternating, a poem ending only after 。. */
function wellFormed(text, n) {
  let [line, marks] = [0, 1];
  for (const c of text) {
    if (c === '，' || c === '。') {
      if (line !== n || c !== (marks % 2 === 0 ? '，' : '。')) return false;
      [line, marks] = [0, marks + 1];
    } else if (c === '\n') {
      if (line !== 0 || marks % 2 !== 0) return false;
      marks = 0;
    } else if (HAN.test(c)) line += 1;
    else return false;
  }
  return true;
}

async function onModel(run, model) {
  await until(
    run,
    `#text-model on ${model}`,
    (m) => {
      const sel = document.querySelector('#text-model');
      return sel?.dataset.model === m && !sel.disabled && document.querySelector('#text-model-status')?.textContent === '';
    },
    model,
    { show: '#text .model-choice, #text .error' },
  );
}

async function nextChars(run, after) {
  await until(
    run,
    `#next-chars after ${after}`,
    (after) => document.querySelector('#text-input')?.value === after && document.querySelectorAll('#next-chars li').length === 10,
    after,
    { show: '#next-chars, #text .error' },
  );
  return run.page.$$eval('#next-chars li', (lis) => lis.map((li) => li.getAttribute('data-char')));
}

/** The continuation of `before` that #continue writes (a new one: not the text shown before the click). */
async function continuation(run, before) {
  const shown = await run.page.locator('#generated').textContent();
  await run.page.click('#continue');
  await until(
    run,
    'a new continuation',
    ([before, shown]) => {
      const g = document.querySelector('#generated')?.textContent ?? '';
      return g !== shown && g.length > before.length && g.startsWith(before);
    },
    [before, shown],
    { show: '#generated, #text .error' },
  );
  const g = await run.page.locator('#generated').textContent();
  return g.slice(before.length);
}

for (const cfg of CONFIGS) {
  test(`${cfg.label}: Tang poems on the text pad, in the form asked`, { timeout: 900_000 }, async (t) => {
    const run = await launchPage(cfg.args, { locale: 'zh-CN' });
    const { page } = run;
    const fetched = [];
    page.on('request', (r) => fetched.push(new URL(r.url()).pathname));
    try {
      await page.goto(`${site.url}#text`);
      await until(run, '#app ready', () => document.querySelector('#app')?.dataset.ready === 'true', null, {
        timeout: READY_TIMEOUT_MS,
        show: '#loading-progress, #app',
      });
      assert.equal(await page.locator('#app').getAttribute('data-backend'), cfg.backend);
      assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
      await onModel(run, 'tang');
      assert.ok(fetched.some((p) => p.endsWith('/models/char_lstm_tang.safetensors')), 'the poem model was not fetched');
      assert.ok(!fetched.some((p) => p.endsWith('char_transformer.safetensors')), 'the Transformer was fetched unasked');

      // 床前明月光: Chinese next characters, the gates over five characters.
      const input = page.locator('#text-input');
      await input.click();
      await page.keyboard.type(PROMPT);
      const next = await nextChars(run, PROMPT);
      t.diagnostic(`${cfg.title}: after ${PROMPT}: ${next.join(' ')}`);
      assert.ok(next.every((c) => HAN.test(c) || '，。？！；'.includes(c)), `not Chinese: ${next.join(' ')}`);
      assert.ok(next.includes('，'), `a line of five ends here; the model does not offer ，: ${next.join(' ')}`);
      await until(run, '#gate-heatmap over 5 characters', () => Number(document.querySelector('#gate-heatmap')?.dataset.chars) === 5, null, {
        show: '#heatmap-view',
      });

      // Five, then seven characters a line.
      await page.keyboard.type('，');
      await nextChars(run, `${PROMPT}，`);
      for (const n of [5, 7]) {
        await page.selectOption('#text-form', String(n));
        const written = await continuation(run, `${PROMPT}，`);
        t.diagnostic(`${cfg.title}: ${n} characters a line: ${PROMPT}，${written}`);
        assert.ok(wellFormed(written, n), `not lines of ${n}: ${JSON.stringify(written)}`);
        assert.ok([...written].length >= 3 * (n + 1), `too short: ${written}`);
      }

      await assertAccessible(page, '#text');
      await page.locator('#text').screenshot({ path: path.join(artifacts, `poems-${cfg.name}.png`) });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.locator('#text-form').scrollIntoViewIfNeeded();
      await page.screenshot({ path: path.join(artifacts, `poems-${cfg.name}-390.png`) });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `the page is ${overflow} px wider than a 390 px screen`);
      await page.setViewportSize({ width: 1280, height: 800 });

      // The English model and back: the text stays; the form is for poems only.
      await page.selectOption('#text-model', 'lstm');
      await onModel(run, 'lstm');
      assert.equal(await input.inputValue(), `${PROMPT}，`);
      assert.ok(await page.locator('#text-form').isHidden(), 'the form is offered to the English model');
      await page.selectOption('#text-model', 'tang');
      await onModel(run, 'tang');
      assert.equal(await input.inputValue(), `${PROMPT}，`);

      // Three steps on the poems excerpt, from the shipped poem weights.
      assert.equal(await page.locator('#tt-source').inputValue(), 'tang', 'the excerpt does not follow the poem model');
      const st = await trainTextSteps(run, 3);
      t.diagnostic(`${cfg.title}: the poem model trains at ${st.charsPerSec} chars/s in the page, loss ${st.loss}`);
      assert.ok(fetched.some((p) => p.endsWith('/data/tang-excerpt.txt')), 'the poems excerpt was not fetched');
      assert.ok(Number(st.loss) > 0 && Number(st.loss) < 9, `data-loss ${st.loss}`);
      const fatal = run.problems.filter((p) => p.startsWith('uncaught:') || p.includes('panicked at'));
      assert.deepEqual(fatal, [], run.problems.join('\n'));
    } finally {
      await run.browser.close();
    }
  });
}
