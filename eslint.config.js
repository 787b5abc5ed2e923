// @ts-check
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import { dataMachinePlugin } from './tools/eslint/package-boundary.js';

/** The boundary: who may import whom. See docs/architecture.md. */
const boundary = {
  packages: {
    '@data-machine/agents-api': { forbid: ['data-machine', '@data-machine/server'] },
    'data-machine': { forbid: ['@data-machine/server'] },
    '@data-machine/testkit': { forbid: ['data-machine', '@data-machine/server'] },
    '@data-machine/pglite-dialect': { forbid: ['@data-machine/agents-api', 'data-machine', '@data-machine/server'] },
    '@data-machine/server': { forbid: [] },
    // The console reaches the server over HTTP only: its types come from the OpenAPI document.
    '@data-machine/console': { forbid: ['@data-machine/agents-api', 'data-machine', '@data-machine/server'] },
  },
  testOnly: ['@data-machine/testkit'],
};

export default defineConfig(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '**/.turbo/**', '**/.tsbuild/**', '**/coverage/**', '.data/**', '**/test/fixtures/**'],
  },
  tseslint.configs.recommended,
  {
    files: ['**/*.{ts,tsx}'],
    languageOptions: {
      parserOptions: {
        // Boundary fixtures sit outside every tsconfig on purpose; the boundary test lints them
        // without type information (tools/eslint/package-boundary.test.ts).
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // What a package is made of; its build configs are repository tooling and may share files.
    files: ['{packages,apps}/*/{src,test,bench}/**/*.{ts,tsx,js}'],
    plugins: { 'data-machine': dataMachinePlugin },
    rules: {
      'data-machine/package-boundary': ['error', boundary],
    },
  },
  {
    files: ['**/*.{ts,tsx,js}'],
    rules: { 'no-console': ['error', { allow: ['warn', 'error'] }] },
  },
);
