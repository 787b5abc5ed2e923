import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { PGliteOptions } from '@electric-sql/pglite';

/** What PGlite takes as `pgliteWasmModule`: a `WebAssembly.Module`. */
type PgliteWasmModule = NonNullable<PGliteOptions['pgliteWasmModule']>;

// Node has `WebAssembly`; the repository's libraries (ES2023, no DOM) do not declare it.
declare const WebAssembly: { compile(bytes: Uint8Array): Promise<PgliteWasmModule> };

/**
 * Where the installed PGlite keeps its Postgres build: `pglite.wasm` beside
 * the package's entry, the file PGlite reads and compiles at every start.
 */
export function pgliteWasmPath(): string {
  return path.join(path.dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite')), 'pglite.wasm');
}

/**
 * Compiles PGlite's Postgres build, for the vitest process to hold while its
 * test files run. Each file runs in a fresh worker thread, whose PGlite
 * compiles `pglite.wasm` again, and V8 then compiles the functions Postgres
 * runs most with its optimising tier on background threads: about a second
 * of CPU per worker, every worker again. While any thread of the process
 * holds a module compiled from the same bytes, V8 hands that compiled module
 * to a new compilation of them (its process-wide module cache), optimised
 * code included, so the optimising is paid about once per run instead. The
 * holder must keep a reference to the result for as long as workers start.
 */
export async function compilePgliteWasmModule(): Promise<PgliteWasmModule> {
  return WebAssembly.compile(await readFile(pgliteWasmPath()));
}
