import { isIP } from 'node:net';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import { HandlerError } from '../handler-error';
import { addressRefused, createAddressCheck, createGuardedLookup, type AddressPolicy } from './address-guard';

/** An HTTP method a handler may use. */
export type HandlerHttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One request a handler makes. */
export interface HandlerHttpRequest {
  readonly url: string;
  readonly method?: HandlerHttpMethod;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  /** Overrides the client's timeout for this request (whole request, redirects included). */
  readonly timeoutMs?: number;
  /** Overrides the client's response size limit for this request. */
  readonly maxResponseBytes?: number;
  /** Aborts the request: hand in the call's signal. */
  readonly signal?: AbortSignal;
}

/** A response of any status: handlers decide what a 4xx or 5xx means to them. */
export interface HandlerHttpResponse {
  readonly status: number;
  /** The URL that answered, after redirects. */
  readonly url: string;
  /** Header names lowercase; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
  /** The body as UTF-8. */
  text(): string;
  /** The body parsed as JSON; `handler.invalid_response` when it is not JSON. */
  json(): unknown;
}

/** The HTTP client handlers reach the network through (see {@link createHandlerHttpClient}). */
export interface HandlerHttpClient {
  request(request: HandlerHttpRequest): Promise<HandlerHttpResponse>;
  /** Closes pooled connections. */
  close(): Promise<void>;
}

/** Options of {@link createHandlerHttpClient}. */
export interface HandlerHttpOptions extends AddressPolicy {
  /** Whole-request deadline, redirects included. Default 15 s. */
  readonly timeoutMs?: number;
  /** Largest response body read. Default 10 MiB. */
  readonly maxResponseBytes?: number;
  /** Most redirects followed. Default 5. */
  readonly maxRedirects?: number;
  readonly userAgent?: string;
}

const defaults = { timeoutMs: 15_000, maxResponseBytes: 10 * 1024 * 1024, maxRedirects: 5, userAgent: 'data-machine' };
const redirectStatuses = new Set([301, 302, 303, 307, 308]);
// Credentials meant for one origin never follow a redirect to another.
const originBoundHeaders = ['authorization', 'cookie', 'proxy-authorization'];

/**
 * The client a host hands to handlers through `HandlerContext.http`: a
 * deadline per request, a response size limit, capped redirects, and an
 * SSRF guard that resolves every host name and refuses private, loopback
 * and link-local addresses, on the first request and on every redirect.
 * Only http and https URLs are accepted.
 *
 * @example
 * const http = createHandlerHttpClient({ allowPrivateAddresses: tenant.allowPrivateAddresses });
 * const response = await http.request({ url: 'https://example.com/feed.xml', signal });
 */
export function createHandlerHttpClient(options: HandlerHttpOptions = {}): HandlerHttpClient {
  const settings = { ...defaults, ...options };
  const isAllowed = createAddressCheck(options);
  const agent = new Agent({ connect: { lookup: createGuardedLookup(isAllowed) } });

  async function request(call: HandlerHttpRequest): Promise<HandlerHttpResponse> {
    const deadline = new AbortController();
    const timeoutMs = call.timeoutMs ?? settings.timeoutMs;
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    const signal = call.signal ? AbortSignal.any([call.signal, deadline.signal]) : deadline.signal;
    try {
      return await follow(call, signal, call.maxResponseBytes ?? settings.maxResponseBytes);
    } catch (error) {
      if (HandlerError.isInstance(error)) throw error;
      if (call.signal?.aborted) throw new HandlerError('handler.cancelled', `The request to ${hostOf(call.url)} was cancelled.`, true, { cause: error });
      if (deadline.signal.aborted) {
        throw new HandlerError('handler.timeout', `${hostOf(call.url)} did not answer within ${timeoutMs} ms.`, true, { details: { timeoutMs }, cause: error });
      }
      // undici reports a connect-time refusal from the lookup as the cause of its own error.
      const refusal = findHandlerError(error);
      if (refusal) throw refusal;
      const reason = error instanceof Error ? error.message : String(error);
      throw new HandlerError('handler.request_failed', `The request to ${hostOf(call.url)} failed: ${reason}`, true, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  async function follow(call: HandlerHttpRequest, signal: AbortSignal, maxBytes: number): Promise<HandlerHttpResponse> {
    let url = checkedUrl(call.url, isAllowed);
    let method: HandlerHttpMethod = call.method ?? 'GET';
    let body = call.body;
    let headers: Record<string, string> = { 'user-agent': settings.userAgent, ...lowercaseKeys(call.headers ?? {}) };
    for (let redirects = 0; ; redirects += 1) {
      const response = await send(url, { method, headers, body, signal, dispatcher: agent, maxRedirections: 0 });
      const location = headerValue(response.headers, 'location');
      if (!redirectStatuses.has(response.statusCode) || location === undefined) {
        return readResponse(url, response, maxBytes);
      }
      await response.body.dump();
      if (redirects >= settings.maxRedirects) {
        throw new HandlerError('handler.too_many_redirects', `${hostOf(call.url)} redirected more than ${settings.maxRedirects} times.`, false, {
          details: { maxRedirects: settings.maxRedirects },
        });
      }
      const next = checkedUrl(new URL(location, url).href, isAllowed);
      if (next.origin !== url.origin) headers = withoutKeys(headers, originBoundHeaders);
      // 303, and 301/302 after a POST (what browsers do), continue as a GET without the body.
      if (response.statusCode === 303 || ((response.statusCode === 301 || response.statusCode === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
        headers = withoutKeys(headers, ['content-type', 'content-length']);
      }
      url = next;
    }
  }

  return { request, close: () => agent.close() };
}

const idempotentMethods = new Set<string>(['GET', 'HEAD', 'PUT', 'DELETE']);
const staleSocketCodes = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/**
 * Sends once, and once more for an idempotent method whose connection was
 * reset before any answer: a pooled keep-alive socket the server closed while
 * it sat idle fails that way, and a second try on a new socket is what
 * browsers do. A POST is never repeated here (it may have been received).
 */
interface SendOptions {
  readonly method: HandlerHttpMethod;
  readonly headers: Record<string, string>;
  readonly body: string | Uint8Array | undefined;
  readonly signal: AbortSignal;
  readonly dispatcher: Dispatcher;
  readonly maxRedirections: 0;
}

async function send(url: URL, options: SendOptions): Promise<Dispatcher.ResponseData> {
  try {
    return await undiciRequest(url, options);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (!idempotentMethods.has(options.method) || typeof code !== 'string' || !staleSocketCodes.has(code) || options.signal.aborted) throw error;
    return undiciRequest(url, options);
  }
}

/** A parsed http(s) URL; an IP literal host is checked here because `net.connect` skips the lookup for one. */
function checkedUrl(raw: string, isAllowed: (address: string) => boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (error) {
    throw new HandlerError('handler.invalid_url', `"${raw}" is not a URL.`, false, { cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new HandlerError('handler.invalid_url', `Only http and https URLs can be fetched, not ${url.protocol}.`, false, { details: { url: raw } });
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host) !== 0 && !isAllowed(host)) throw addressRefused(host, host);
  return url;
}

async function readResponse(url: URL, response: Dispatcher.ResponseData, maxBytes: number): Promise<HandlerHttpResponse> {
  const declared = Number(headerValue(response.headers, 'content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    response.body.destroy();
    throw tooLarge(url, maxBytes);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      response.body.destroy();
      throw tooLarge(url, maxBytes);
    }
    chunks.push(chunk);
  }
  const body = new Uint8Array(Buffer.concat(chunks));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  const text = (): string => Buffer.from(body).toString('utf8');
  return {
    status: response.statusCode,
    url: url.href,
    headers,
    body,
    text,
    json() {
      try {
        return JSON.parse(text()) as unknown;
      } catch (error) {
        throw new HandlerError('handler.invalid_response', `${url.host} answered ${response.statusCode} with a body that is not JSON.`, false, {
          details: { status: response.statusCode },
          cause: error,
        });
      }
    },
  };
}

function tooLarge(url: URL, maxBytes: number): HandlerError {
  return new HandlerError('handler.response_too_large', `The response from ${url.host} is larger than ${maxBytes} bytes.`, false, { details: { maxBytes } });
}

function findHandlerError(error: unknown): HandlerError | undefined {
  for (let current: unknown = error, depth = 0; current !== undefined && current !== null && depth < 5; depth += 1) {
    if (HandlerError.isInstance(current)) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function headerValue(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function lowercaseKeys(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

function withoutKeys(headers: Record<string, string>, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !names.includes(name)));
}

function hostOf(raw: string): string {
  try {
    return new URL(raw).host;
  } catch {
    return raw;
  }
}
