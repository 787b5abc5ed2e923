import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { serverEnvironmentSchema } from './config';

// docs/operations.md lists every variable the server reads. Its table is
// rendered from the configuration schema (set DM_WRITE_DOCS=1 to rewrite it),
// and this test fails when the two differ.

const start = '<!-- variables:start (rendered from apps/server/src/config/config.ts; regenerate with `DM_WRITE_DOCS=1 pnpm vitest run apps/server/src/config`) -->';
const end = '<!-- variables:end -->';

function renderVariables(): string {
  const defaults = serverEnvironmentSchema.parse({}) as Record<string, unknown>;
  const rows = Object.entries(serverEnvironmentSchema.shape).map(([name, schema]) => {
    const fallback = defaults[name] === undefined ? 'unset' : `\`${String(defaults[name])}\``;
    return `| \`${name}\` | ${fallback} | ${schema.description ?? ''} |`;
  });
  return [start, '| variable | default | meaning |', '| --- | --- | --- |', ...rows, end].join('\n');
}

describe('docs/operations.md', () => {
  it('lists every variable the server reads, with its default and meaning', async () => {
    const file = path.resolve(import.meta.dirname, '../../../../docs/operations.md');
    const text = await readFile(file, 'utf8');
    const from = text.indexOf(start);
    const to = text.indexOf(end);
    expect(from, 'the rendered section markers are in docs/operations.md').toBeGreaterThanOrEqual(0);
    const current = text.slice(from, to + end.length);
    if (process.env.DM_WRITE_DOCS === '1') await writeFile(file, text.replace(current, renderVariables()));
    expect(current).toBe(renderVariables());
  });

  it('describes every variable', () => {
    for (const [name, schema] of Object.entries(serverEnvironmentSchema.shape)) expect({ name, described: Boolean(schema.description) }).toEqual({ name, described: true });
  });
});
