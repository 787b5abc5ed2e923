import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tsup.base';

export default defineConfig({
  ...libraryBuild({ index: 'src/index.ts', testing: 'src/testing/index.ts' }),
  // The contract suites are written against vitest; a consumer's own copy must run them.
  external: ['vitest'],
});
