// The page asking a server: `neuralpad serve` (the binary `cargo test`
// builds, on the CPU kernels) on a free port, and the built page on another
// origin, so the requests cross origins as they would from a real site.
// Once per backend of the page: a drawn digit and typed text answered in
// this browser, then on the server (the same answers, each side's round
// trip shown), a continuation from the server, an address where nothing
// listens (a clear message), and back to the browser.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { CONFIGS, DIGITS, artifacts, draw, launchPage, root, serveForTests, show, until } from './harness.mjs';

const site = serveForTests();
const READY_TIMEOUT_MS = 120_000;
const RUN_TIMEOUT_MS = 6 * 60_000;
const BINARY = path.join(root, 'target/debug/neuralpad');

/** The running server: its URL, and the process to stop. */
const server = {};

before(async () => {
  assert.ok(existsSync(BINARY), `${BINARY} missing: cargo test builds it`);
  const child = spawn(BINARY, ['serve', '--port', '0', '--backend', 'cpu', '--eval-images', '0'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  server.child = child;
  server.url = await new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`neuralpad serve exited (${code}) before listening`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = line.match(/^listening on (http:\/\/\S+)/);
      if (m) resolve(m[1]);
    });
  });
});
after(() => server.child?.kill('SIGTERM'));

/** A port of 127.0.0.1 where nothing listens: bound, then closed. */
async function closedPort() {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** #probs as ten numbers. */
function probs(page) {
  return page.$$eval('#probs .bar', (bars) => bars.map((b) => Number(b.getAttribute('data-p'))));
}

/** #next-chars as [char, p] pairs. */
function nextChars(page) {
  return page.$$eval('#next-chars li', (items) =>
    items.map((li) => [li.getAttribute('data-char'), Number(li.getAttribute('data-p'))]),
  );
}

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

function assertClose(got, want, what) {
  assert.equal(got.length, want.length, what);
  for (let i = 0; i < got.length; i++) {
    assert.ok(Math.abs(got[i] - want[i]) < 1e-4, `${what} [${i}]: ${got[i]} vs ${want[i]}`);
  }
}

const roundTrip = (page, side) => page.locator('#round-trip').getAttribute(`data-${side}-ms`);

for (const config of CONFIGS) {
  test(`${config.label}: the page asks a server and shows both round trips`, { timeout: RUN_TIMEOUT_MS }, async (t) => {
    const run = await launchPage(config.args);
    t.after(() => run.browser.close());
    const { page } = run;
    try {
      await page.goto(site.url);
      await until(run, 'ready page', () => document.querySelector('#app')?.getAttribute('data-ready') === 'true', null, {
        timeout: READY_TIMEOUT_MS,
      });
      const [label, strokes] = DIGITS.find(([d]) => d === '7');
      const text = 'The Congress of the United';

      // In this browser first.
      await draw(page, strokes);
      await until(run, 'a digit answered in the browser', () => document.querySelector('#prediction')?.getAttribute('data-state') === 'ready');
      const here = await settled(run, 'browser probabilities', () => probs(page));
      assert.equal(await page.locator('#prediction').getAttribute('data-digit'), label);
      await show(page, 'text');
      await page.locator('#text-input').fill(text);
      const hereText = await settled(run, 'browser next characters', () => nextChars(page));
      assert.ok(Number(await roundTrip(page, 'browser')) > 0, 'no browser round trip shown');
      assert.equal(await roundTrip(page, 'server'), '', 'a server round trip before any server was asked');

      // On the server: the same drawing and text are asked again at once.
      await show(page, 'service');
      await page.locator('#server-address').fill(server.url);
      await page.locator('#server-address').dispatchEvent('change');
      await page.locator('#where-server').check();
      await until(run, 'the server backend shown', () => /CPU/.test(document.querySelector('#server-backend')?.innerText ?? ''), null, {
        show: '#where',
      });
      await until(run, 'a digit answered by the server', () => document.querySelector('#prediction')?.getAttribute('data-source') === 'server', null, {
        show: '#prediction, #where',
      });
      const there = await settled(run, 'server probabilities', () => probs(page));
      assertClose(there, here, 'server vs browser probabilities');
      assert.equal(await page.locator('#prediction').getAttribute('data-digit'), label);
      await until(run, 'text read by the server', () => document.querySelector('#next-chars')?.getAttribute('data-source') === 'server', null, {
        show: '#next-chars, #where',
      });
      const thereText = await settled(run, 'server next characters', () => nextChars(page));
      assert.deepEqual(thereText.map(([c]) => c), hereText.map(([c]) => c), 'the same next characters');
      assertClose(thereText.map(([, p]) => p), hereText.map(([, p]) => p), 'next-character probabilities');
      assert.ok(Number(await roundTrip(page, 'server')) > 0, 'no server round trip shown');
      assert.match(await page.locator('#round-trip').innerText(), /in this browser [\d.]+ ms · on a server [\d.]+ ms/);
      await show(page, 'inside');
      assert.ok(await page.locator('#inside-on-server').isVisible(), 'no word that the inside view needs the browser');

      // A new drawing goes to the server too.
      await page.locator('#clear').click();
      const [label1, strokes1] = DIGITS.find(([d]) => d === '1');
      await draw(page, strokes1);
      await until(run, 'the server classifying a new drawing', (d) => document.querySelector('#prediction')?.getAttribute('data-digit') === d, label1, {
        show: '#prediction, #where',
      });

      // A continuation written by the server.
      await show(page, 'text');
      await page.locator('#continue').click();
      await until(run, 'a continuation from the server', (text) => (document.querySelector('#generated')?.innerText ?? '').length > text.length + 100, text, {
        show: '#generated, #where',
      });
      assert.ok((await page.locator('#generated').innerText()).startsWith(text));

      // Nothing listens there: a clear message, and no answer invented.
      const closed = await closedPort();
      await show(page, 'service');
      await page.locator('#server-address').fill(`127.0.0.1:${closed}`);
      await page.locator('#server-address').dispatchEvent('change');
      await until(
        run,
        'a message that the server is unreachable',
        (port) => (document.querySelector('#server-error')?.innerText ?? '').startsWith(`Could not reach the server at http://127.0.0.1:${port}`),
        closed,
        { show: '#where' },
      );

      // Back in the browser: the message goes, the browser answers.
      await page.locator('#where-browser').check();
      await until(run, 'the message cleared', () => (document.querySelector('#server-error')?.innerText ?? '') === '');
      await show(page, 'inside');
      await page.locator('#clear').click();
      await draw(page, strokes);
      await until(run, 'the browser answering again', (d) => document.querySelector('#prediction')?.getAttribute('data-digit') === d, label);
      assert.ok(await page.locator('#inside').isVisible() && !(await page.locator('#inside-on-server').isVisible()));
      const fatal = run.problems.filter((p) => p.startsWith('uncaught:') || p.includes('panicked at'));
      assert.deepEqual(fatal, [], run.problems.join('\n'));
    } finally {
      await page.screenshot({ path: path.join(artifacts, `server-${config.name}.png`), fullPage: true });
    }
  });
}
