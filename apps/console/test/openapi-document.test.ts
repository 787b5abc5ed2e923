import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const serverMain = path.resolve(import.meta.dirname, '../../server/dist/main.js');
const committedDocument = path.resolve(import.meta.dirname, '../openapi.json');
const committedTypes = path.resolve(import.meta.dirname, '../src/api/schema.d.ts');
// It starts the built server binary and runs the code generator: seconds of process start, as the server's process tests allow.
const deadline = 60_000;
const regenerate = 'run `pnpm --filter @data-machine/console generate:api` and commit the result';

// The console's client is typed from these two files; a server route change must reach them, so that a
// change that breaks the console breaks its typecheck instead of its users.
describe("the console's API types", () => {
  it("are generated from the server's current OpenAPI document", { timeout: deadline }, async () => {
    const { stdout } = await run(process.execPath, [serverMain, 'openapi'], { maxBuffer: 64 * 1024 * 1024 });
    expect(JSON.parse(await readFile(committedDocument, 'utf8')), regenerate).toEqual(JSON.parse(stdout));
    const types = astToString(await openapiTS(JSON.parse(stdout)));
    expect((await readFile(committedTypes, 'utf8')).includes(types.trim()), regenerate).toBe(true);
  });
});
