#!/usr/bin/env node
// The Tang poems (唐诗) corpus, built from the npm package chinese-poetry@2.0.1
// (全唐诗, dist/quantangshi) and converted from traditional to simplified
// characters by opencc-js@1.4.2: the only place either is read, so the
// native corpus (`--corpus tang` / `song`) and the page's training excerpt
// (scripts/page_data.mjs) are the same characters.
//
// One poem a line, body only (the title and the author are not text the
// model should write), in file then poem order, with these cleanings:
//   - an editor's note in brackets, （一作…） or (…) or {…}, is dropped;
//   - an editor's [inserted] or 〖supplied〗 character keeps its character;
//   - a poem with a lost character (□ ○ ● or an ideographic description
//     like ⿰), or with a bracket of a note that runs across its lines, is
//     dropped whole: its lines could not be read as written;
//   - what is left of ASCII (footnote digits, slashes) is dropped.
// Held out: every 20th poem (positions 19, 39, ...: 5% by poem, spread over
// the whole collection rather than its last volumes, which are songs and
// sayings). The Song poems (poet.song.0.json) are a second, unseen set.
//
// Usage: node scripts/poems.mjs [OUT_DIR]  (default node_modules/.poems)
// writes tang-train.txt, tang-valid.txt and song-0.txt there. scripts/setup
// runs it after `npm ci`; it is deterministic (same files, same bytes).

import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const POEMS = 'chinese-poetry/dist/quantangshi';
/** Every HELD_OUT-th poem is validation. */
export const HELD_OUT = 20;

function packageDir() {
  const dir = join(root, 'node_modules', POEMS);
  try {
    readdirSync(dir);
  } catch (e) {
    throw new Error(`${dir}: ${e.message}: the poems come from the npm package chinese-poetry; run \`npm ci\``);
  }
  return dir;
}

async function converter() {
  try {
    const OpenCC = await import('opencc-js');
    return OpenCC.Converter({ from: 't', to: 'cn' });
  } catch (e) {
    throw new Error(`opencc-js: ${e.message}: the converter comes from the npm package opencc-js; run \`npm ci\``);
  }
}

/** A poem's body as one line, or null when it has none or lost characters. */
function body(poem) {
  const text = (poem.paragraphs ?? []).join('');
  if (/[□○●\u2FF0-\u2FFF]/u.test(text)) return null;
  const notesOut = text.replace(/（[^）]*）|\([^)]*\)|\{[^}]*\}/gu, '');
  // A bracket left over opened or closed a note across lines: the lines
  // around it cannot be told from the note.
  if (/[（）(){}]/u.test(notesOut)) return null;
  const clean = notesOut
    .replace(/[[\]〖〗]/gu, '')
    .replace(/[\x00-\x7F]/gu, '')
    .replace(/\s/gu, '');
  return clean.length > 0 ? clean : null;
}

/**
 * `text` converted until converting again changes nothing: OpenCC converts
 * by phrases, so a character left as written inside one phrase (徵, 於, 乾
 * in a handful of poems) can be converted once the rest of the line is.
 */
export function simplified(toSimplified, text) {
  for (let i = 0; i < 4; i++) {
    const next = toSimplified(text);
    if (next === text) return text;
    text = next;
  }
  throw new Error(`simplifying never settles: ${text.slice(0, 40)}`);
}

/** The poems of one kind ('tang' or 'song') from files poet.KIND.N.json with N in `numbers` (all when omitted), simplified. */
export async function poems(kind, numbers) {
  const dir = packageDir();
  const toSimplified = await converter();
  const re = new RegExp(`^poet\\.${kind}\\.(\\d+)\\.json$`);
  const files = readdirSync(dir)
    .map((f) => [f, re.exec(f)])
    .filter(([, m]) => m && (!numbers || numbers.includes(Number(m[1]))))
    .sort((a, b) => Number(a[1][1]) - Number(b[1][1]))
    .map(([f]) => f);
  const out = [];
  for (const f of files) {
    for (const poem of JSON.parse(readFileSync(join(dir, f), 'utf8'))) {
      const b = body(poem);
      if (b) out.push(simplified(toSimplified, b));
    }
  }
  return out;
}

/**
 * The `most` most frequent characters of `text`, ties to the lower code
 * point: the rule of the Rust side's `Vocab::most_frequent`, which builds
 * the poems' vocabulary (its 4,000) from the same training poems.
 */
export function mostFrequent(text, most) {
  const counts = new Map();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  return new Set(
    [...counts]
      .sort((a, b) => b[1] - a[1] || a[0].codePointAt(0) - b[0].codePointAt(0))
      .slice(0, most)
      .map(([c]) => c),
  );
}

/** The Tang poems split into training and held-out poems (every HELD_OUT-th). */
export async function tangSplit() {
  const all = await poems('tang');
  return {
    train: all.filter((_, i) => i % HELD_OUT !== HELD_OUT - 1),
    valid: all.filter((_, i) => i % HELD_OUT === HELD_OUT - 1),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ?? join(root, 'node_modules', '.poems');
  mkdirSync(out, { recursive: true });
  const { train, valid } = await tangSplit();
  const song = await poems('song', [0]);
  const files = [
    ['tang-train.txt', train],
    ['tang-valid.txt', valid],
    ['song-0.txt', song],
  ];
  for (const [name, list] of files) writeFileSync(join(out, name), list.join('\n') + '\n');
  const chars = (list) => list.reduce((n, p) => n + [...p].length + 1, 0);
  console.log(
    `poems: Tang ${train.length} training + ${valid.length} held out (${chars(train)} + ${chars(valid)} characters), ` +
      `Song ${song.length} (${chars(song)} characters) -> ${out}`,
  );
}
