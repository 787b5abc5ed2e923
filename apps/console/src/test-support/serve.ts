import { vi } from 'vitest';

/** A request the stubbed server saw: method and path, query, headers and JSON body. */
export interface SeenRequest {
  readonly route: string;
  readonly query: URLSearchParams;
  readonly headers: Headers;
  readonly body: unknown;
}

/**
 * Answers the console's requests from `routes` (keyed `METHOD /path`), 404
 * otherwise, and records each request.
 */
export function serve(routes: Record<string, (request: SeenRequest) => Response>): SeenRequest[] {
  const seen: SeenRequest[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (request: Request) => {
      const url = new URL(request.url);
      const text = request.method === 'GET' ? '' : await request.text();
      const entry = { route: `${request.method} ${url.pathname}`, query: url.searchParams, headers: request.headers, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
      seen.push(entry);
      return routes[entry.route]?.(entry) ?? new Response(JSON.stringify({ error: { code: 'route.not_found', message: 'No route' } }), { status: 404 });
    }),
  );
  return seen;
}

/** A JSON answer. */
export const json = (body: unknown, status = 200) => () => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
