// The Tang poems corpus that scripts/poems.mjs builds (and scripts/setup
// keeps in node_modules/.poems): deterministic, simplified, held out by
// poem, and the page's excerpt inside the poem model's vocabulary.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as OpenCC from 'opencc-js';
import { HELD_OUT, mostFrequent, poems, tangSplit } from '../scripts/poems.mjs';

const FILES = ['tang-train.txt', 'tang-valid.txt', 'song-0.txt'];

test('two builds write the same bytes as the corpus in node_modules/.poems', () => {
  const dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'poems-')));
  try {
    for (const d of dirs) execFileSync('node', ['scripts/poems.mjs', d]);
    for (const f of FILES) {
      const [a, b] = dirs.map((d) => readFileSync(join(d, f)));
      assert.ok(a.equals(b), `${f}: two builds differ`);
      assert.ok(a.equals(readFileSync(join('node_modules/.poems', f))), `${f}: node_modules/.poems is stale: run node scripts/poems.mjs`);
    }
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test('every character is simplified, every poem is one clean line', () => {
  const toSimplified = OpenCC.Converter({ from: 't', to: 'cn' });
  for (const f of FILES) {
    const text = readFileSync(join('node_modules/.poems', f), 'utf8');
    const lines = text.split('\n').slice(0, -1);
    assert.ok(lines.length > 900, `${f}: ${lines.length} poems`);
    for (const line of lines) {
      // Converting again changes nothing: no traditional form is left.
      assert.equal(toSimplified(line), line, `${f} holds traditional characters`);
      assert.ok(line.length > 0, `${f}: an empty poem`);
      assert.doesNotMatch(line, /[\x00-\x7F□○●（）\[\]]/u, `${f}: an unclean poem: ${line.slice(0, 40)}`);
    }
  }
  // 床前明月光 in the traditional original comes out simplified.
  assert.equal(toSimplified('疑是地上霜，舉頭望明月'), '疑是地上霜，举头望明月');
});

test('every 20th poem is held out, and no poem is in both parts', async () => {
  const all = await poems('tang');
  const { train, valid } = await tangSplit();
  assert.equal(train.length + valid.length, all.length);
  assert.equal(valid.length, Math.floor(all.length / HELD_OUT));
  assert.equal(valid[0], all[HELD_OUT - 1]);
  assert.ok(all.length > 55_000, `${all.length} Tang poems`);
});

test('the page excerpt rule keeps poems inside the 4,000 most frequent characters', async () => {
  const { train } = await tangSplit();
  const known = mostFrequent(train.join('\n') + '\n', 4000);
  assert.equal(known.size, 4000);
  for (const c of '床前明月光，。\n') assert.ok(known.has(c), `${JSON.stringify(c)} is among the most frequent`);
  // Ties go to the lower code point.
  assert.deepEqual([...mostFrequent('bbaacd', 3)].sort(), ['a', 'b', 'c']);
});
