import { defineConfig } from 'tsup';
import { libraryBuild } from '../../tsup.base';

export default defineConfig({
  // One file per public entry. The main entry never reaches `openai` or `kysely`:
  // only `openai` and `postgres` import them, so a shared chunk cannot pull them in.
  ...libraryBuild({
    index: 'src/index.ts',
    openai: 'src/openai/index.ts',
    postgres: 'src/postgres/index.ts',
    'store-kit': 'src/store-kit/index.ts',
    testing: 'src/testing/index.ts',
  }),
  // The contract suites are written against vitest; a consumer's own copy must run them.
  external: ['vitest'],
});
