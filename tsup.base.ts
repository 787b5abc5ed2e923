import type { Options } from 'tsup';

/**
 * The build every library package shares: ESM and bundled `.d.ts` for Node 20.
 * tsup's declaration build sets `baseUrl`, which TypeScript 6 deprecates;
 * the flag is scoped to that build so our own typecheck stays strict.
 */
export function libraryBuild(entry: Record<string, string> = { index: 'src/index.ts' }): Options {
  return {
    entry,
    format: ['esm'],
    target: 'node20',
    dts: { compilerOptions: { ignoreDeprecations: '6.0' } },
    sourcemap: true,
    clean: true,
  };
}
