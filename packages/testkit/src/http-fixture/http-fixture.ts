import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the fixture received. */
export interface FixtureRequest {
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Header names lowercase, as Node gives them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
  /** The body as UTF-8. */
  text(): string;
  /** The body parsed as JSON; throws when it is not. */
  json(): unknown;
}

/** What a route answers. A body that is not a string or Buffer is sent as JSON. */
export interface FixtureResponse {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  readonly body?: unknown;
  /** Drops the connection without answering, as a server that closed an idle keep-alive socket does. */
  readonly dropConnection?: boolean;
}

/** Answers one request; may return a promise that never settles to make the client time out. */
export type FixtureHandler = (request: FixtureRequest) => FixtureResponse | Promise<FixtureResponse>;

/** Options of {@link startHttpFixture}. */
export interface HttpFixtureOptions {
  /** Answers requests no route matches (a fixture with its own routing); without one they get a 404. */
  readonly fallback?: FixtureHandler;
}

/** A running fixture server. */
export interface HttpFixture {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: readonly FixtureRequest[];
  /** Answers `method` requests to `path` (exact, no query) with `handler`, replacing an earlier route. */
  route(method: string, path: string, handler: FixtureHandler): void;
  /** Forgets routes and received requests. */
  reset(): void;
  close(): Promise<void>;
}

/**
 * Starts a real HTTP server on a random loopback port that answers from
 * routes a test sets, and records what it received. An unrouted request is
 * a 404. Handlers under test reach it over a real socket.
 *
 * @example
 * const fixture = await startHttpFixture();
 * fixture.route('GET', '/feed.xml', () => ({ headers: { 'content-type': 'application/rss+xml' }, body: rss }));
 */
export async function startHttpFixture(options: HttpFixtureOptions = {}): Promise<HttpFixture> {
  const requests: FixtureRequest[] = [];
  const routes = new Map<string, FixtureHandler>();

  async function onRequest(incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const parsed = new URL(incoming.url ?? '/', 'http://fixture');
    const request: FixtureRequest = {
      method: incoming.method ?? 'GET',
      path: parsed.pathname,
      query: parsed.searchParams,
      headers: incoming.headers,
      body,
      text: () => body.toString('utf8'),
      json: () => JSON.parse(body.toString('utf8')) as unknown,
    };
    requests.push(request);
    const handler = routes.get(`${request.method} ${request.path}`);
    const answer = handler ? await handler(request) : options.fallback ? await options.fallback(request) : { status: 404, body: { error: 'no route' } };
    writeAnswer(outgoing, answer);
  }

  const server = createServer((incoming, outgoing) => {
    onRequest(incoming, outgoing).catch((error: unknown) => {
      if (!outgoing.headersSent) writeAnswer(outgoing, { status: 500, body: { error: String(error) } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    route: (method, path, handler) => void routes.set(`${method.toUpperCase()} ${path}`, handler),
    reset() {
      routes.clear();
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        // Requests a handler left hanging (timeout tests) would hold close() open forever.
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function writeAnswer(outgoing: ServerResponse, answer: FixtureResponse): void {
  if (answer.dropConnection === true) {
    outgoing.socket?.destroy();
    return;
  }
  const isRaw = typeof answer.body === 'string' || Buffer.isBuffer(answer.body);
  const payload = answer.body === undefined ? '' : isRaw ? (answer.body as string | Buffer) : JSON.stringify(answer.body);
  const headers: Record<string, string | readonly string[]> = { ...(answer.body !== undefined && !isRaw ? { 'content-type': 'application/json; charset=UTF-8' } : {}), ...answer.headers };
  outgoing.writeHead(answer.status ?? 200, headers as Record<string, string | string[]>);
  outgoing.end(payload);
}
