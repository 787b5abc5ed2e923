import createClient, { type Client } from 'openapi-fetch';
import { toApiError } from './api-error';
import type { paths } from './schema';

export type { paths } from './schema';

/** The cookie the server puts the session's CSRF token in (readable by design). */
export const csrfCookieName = 'dm_csrf';

/** Reads the CSRF token of the console session from `document.cookie`. */
export function csrfToken(cookies: string = typeof document === 'undefined' ? '' : document.cookie): string | undefined {
  for (const pair of cookies.split(';')) {
    const [name, ...value] = pair.trim().split('=');
    if (name === csrfCookieName) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

/** The console's typed API client; every request rides on the session cookie. */
export type ApiClient = Client<paths>;

/** What requests are sent with besides the cookie. */
export interface ApiClientOptions {
  /** The server's origin; the page's own by default. */
  readonly baseUrl?: string;
  /** The tenant requests act in (`x-tenant`), read at each request. */
  readonly tenant?: () => string | undefined;
  readonly fetch?: typeof globalThis.fetch;
}

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The API client typed from the server's OpenAPI document: a change repeats
 * the session's CSRF token in `x-csrf-token`, and `x-tenant` names the
 * chosen tenant.
 */
export function createApiClient(options: ApiClientOptions = {}): ApiClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl ?? (typeof window === 'undefined' ? '' : window.location.origin),
    credentials: 'same-origin',
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  client.use({
    onRequest({ request }) {
      if (!safeMethods.has(request.method)) {
        const token = csrfToken();
        if (token !== undefined) request.headers.set('x-csrf-token', token);
      }
      const tenant = options.tenant?.();
      if (tenant !== undefined && !request.headers.has('x-tenant')) request.headers.set('x-tenant', tenant);
      return request;
    },
  });
  return client;
}

/** The data of a request, or its failure thrown as an `ApiError` (a lost connection included). */
export async function unwrap<T>(request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await request;
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw toApiError(0, undefined);
  }
  if (!result.response.ok) throw toApiError(result.response.status, result.error);
  return result.data as T;
}
