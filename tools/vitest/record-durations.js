// @ts-check
/**
 * Writes tools/vitest/test-durations.json from a full run's JSON report, for
 * the longest-first sequencer (tools/vitest/longest-first-sequencer.ts):
 *
 *   npx vitest run --reporter=json --outputFile=/tmp/durations.json
 *   node tools/vitest/record-durations.js /tmp/durations.json
 *
 * Keeps the longest files only, rounded to seconds: the order is what counts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const kept = 40;
const report = process.argv[2];
if (report === undefined) {
  console.error('usage: node tools/vitest/record-durations.js <vitest JSON report>');
  process.exit(2);
}

/** @type {{ testResults: { name: string, startTime: number, endTime: number }[] }} */
const { testResults } = JSON.parse(readFileSync(report, 'utf8'));
// The run may come from another checkout: paths are made relative to the folder every test file is in.
const root = testResults.map((result) => path.dirname(result.name)).reduce(commonFolder);
const durations = testResults
  .map((result) => [path.relative(root, result.name), Math.round((result.endTime - result.startTime) / 1000) * 1000])
  .sort((a, b) => Number(b[1]) - Number(a[1]))
  .slice(0, kept);
writeFileSync(path.join(import.meta.dirname, 'test-durations.json'), `${JSON.stringify(Object.fromEntries(durations), null, 2)}\n`);

/**
 * The deepest folder holding both `a` and `b`.
 * @param {string} a
 * @param {string} b
 */
function commonFolder(a, b) {
  const first = a.split(path.sep);
  const second = b.split(path.sep);
  let shared = 0;
  while (shared < first.length && first[shared] === second[shared]) shared += 1;
  return first.slice(0, shared).join(path.sep);
}
