import { existsSync } from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/**
 * Serves the web console's built files at `/` (its pages live after `#`, so
 * no API path is shadowed and a reload never reaches an API route). Does
 * nothing when `directory` has no `index.html` (the console is not built):
 * the API works without it.
 */
export function registerConsoleAssets(app: FastifyInstance, directory: string): boolean {
  const root = path.resolve(directory);
  if (!existsSync(path.join(root, 'index.html'))) return false;
  void app.register(fastifyStatic, {
    root,
    prefix: '/',
    // One route per built file, found at start: an unknown path stays the API's 404 in the one error shape.
    wildcard: false,
    index: 'index.html',
    // Set per file below: the page revalidated, its hashed assets kept for a year.
    cacheControl: false,
    setHeaders: (response, file) => {
      // Built assets carry a content hash in their name; the page that names them must be revalidated.
      const hashed = file.includes(`${path.sep}assets${path.sep}`);
      response.setHeader('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
      response.setHeader('x-content-type-options', 'nosniff');
      response.setHeader('x-frame-options', 'DENY');
      response.setHeader('content-security-policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'");
    },
  });
  return true;
}
