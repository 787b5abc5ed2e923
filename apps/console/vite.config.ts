import { gzipSync } from 'node:zlib';
import react from '@vitejs/plugin-react';
import { defineConfig, type Plugin } from 'vite';

/** Where `vite dev` sends API requests: a running server (`pnpm start`), or DM_CONSOLE_API. */
const apiTarget = process.env.DM_CONSOLE_API ?? 'http://127.0.0.1:3000';

// Every path the server answers that is not the console's own files.
const apiPaths = ['/agents', '/me', '/tenant', '/tenants', '/console/session', '/handlers', '/templates', '/schedules', '/v1', '/openapi.json', '/health', '/ready'];

/** The first page's budget: JavaScript loaded before anything renders, gzipped. */
const firstPageBudgetBytes = 250 * 1024;

/**
 * Prints the gzipped size of what the first page loads after a build (the
 * entry chunk, its static imports and the stylesheets they bring), against
 * the 250 kB budget.
 */
function firstPageSize(): Plugin {
  return {
    name: 'data-machine:first-page-size',
    apply: 'build',
    generateBundle(_options, bundle) {
      const entry = Object.values(bundle).find((chunk) => chunk.type === 'chunk' && chunk.isEntry);
      if (!entry || entry.type !== 'chunk') return;
      const seen = new Set<string>();
      const stylesheets = new Set<string>();
      const visit = (name: string): number => {
        const chunk = bundle[name];
        if (seen.has(name) || !chunk || chunk.type !== 'chunk') return 0;
        seen.add(name);
        for (const css of chunk.viteMetadata?.importedCss ?? []) stylesheets.add(css);
        return gzipSync(chunk.code).length + chunk.imports.reduce((sum, imported) => sum + visit(imported), 0);
      };
      const script = visit(entry.fileName);
      const style = [...stylesheets].reduce((sum, name) => {
        const asset = bundle[name];
        return sum + (asset?.type === 'asset' ? gzipSync(asset.source).length : 0);
      }, 0);
      const bytes = script + style;
      const verdict = bytes <= firstPageBudgetBytes ? 'within' : 'OVER';
      const kilobytes = (count: number) => `${(count / 1024).toFixed(1)} kB`;
      this.info(`first page: ${kilobytes(bytes)} gzipped, ${kilobytes(script)} JavaScript and ${kilobytes(style)} CSS (${verdict} the ${firstPageBudgetBytes / 1024} kB budget)`);
    },
  };
}

export default defineConfig({
  plugins: [react(), firstPageSize()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false },
  server: { proxy: Object.fromEntries(apiPaths.map((path) => [path, { target: apiTarget, changeOrigin: false }])) },
});
