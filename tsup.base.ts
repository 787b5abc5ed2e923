import type { Options } from 'tsup';

/**
 * Where `tsc -b` (each package's `typecheck`) writes a package's declarations; must match the
 * `outDir` of the package's tsconfig.json.
 */
export const declarationDir = '.tsbuild';

/** `src/openai/index.ts` -> `.tsbuild/src/openai/index.d.ts`. */
function emittedDeclaration(source: string): string {
  return `${declarationDir}/${source.replace(/\.ts$/, '.d.ts')}`;
}

/**
 * The build every library package shares: ESM and bundled `.d.ts` for Node 20.
 * The declarations are the ones `tsc -b` already emitted while type-checking the package
 * (`typecheck`, which `build` runs first): tsup only bundles them, so the package's types are
 * checked once, not again by a second compiler program in the declaration build.
 * tsup's declaration build sets `baseUrl`, which TypeScript 6 deprecates;
 * the flag is scoped to that build so our own typecheck stays strict.
 */
export function libraryBuild(entry: Record<string, string> = { index: 'src/index.ts' }): Options {
  return {
    entry,
    format: ['esm'],
    target: 'node20',
    dts: {
      entry: Object.fromEntries(Object.entries(entry).map(([name, source]) => [name, emittedDeclaration(source)])),
      compilerOptions: { ignoreDeprecations: '6.0' },
    },
    sourcemap: true,
    clean: true,
  };
}
