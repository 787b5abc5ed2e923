import { startHttpFixture, type HttpFixture } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { handlerFailureOf } from '../../../test/support/handler-fixture';
import { HandlerError } from '../handler-error';
import { createAddressCheck, createGuardedLookup, isPublicAddress } from './address-guard';
import { createHandlerHttpClient, type HandlerHttpClient } from './handler-http-client';

describe('handler HTTP client', () => {
  let fixture: HttpFixture;
  let local: HandlerHttpClient;
  beforeAll(async () => {
    fixture = await startHttpFixture();
    local = createHandlerHttpClient({ allowPrivateAddresses: true, timeoutMs: 2_000, maxResponseBytes: 1024, maxRedirects: 2 });
  });
  afterAll(async () => {
    await local.close();
    await fixture.close();
  });
  beforeEach(() => fixture.reset());

  it('returns status, lowercase headers and body of any status, and parses JSON', async () => {
    fixture.route('POST', '/echo', (request) => ({ status: 418, headers: { 'X-Seen': request.text() }, body: { method: request.method } }));
    const response = await local.request({ url: `${fixture.url}/echo`, method: 'POST', body: 'hi' });
    expect(response.status).toBe(418);
    expect(response.headers['x-seen']).toBe('hi');
    expect(response.json()).toEqual({ method: 'POST' });
  });

  it('answers a body that is not JSON with handler.invalid_response when asked for JSON', async () => {
    fixture.route('GET', '/html', () => ({ body: '<html>' }));
    const response = await local.request({ url: `${fixture.url}/html` });
    expect(await handlerFailureOf(Promise.resolve().then(() => response.json()))).toEqual({ code: 'handler.invalid_response', retryable: false });
  });

  describe('SSRF guard', () => {
    it('refuses a loopback IP literal unless the tenant allows private addresses', async () => {
      const strict = createHandlerHttpClient();
      fixture.route('GET', '/ok', () => ({ body: 'ok' }));
      expect(await handlerFailureOf(strict.request({ url: `${fixture.url}/ok` }))).toEqual({ code: 'handler.address_refused', retryable: false });
      expect(fixture.requests).toHaveLength(0);
      await strict.close();
    });

    it('resolves a host name and refuses it when it points at loopback', async () => {
      const strict = createHandlerHttpClient();
      fixture.route('GET', '/ok', () => ({ body: 'ok' }));
      const port = new URL(fixture.url).port;
      expect(await handlerFailureOf(strict.request({ url: `http://localhost:${port}/ok` }))).toEqual({ code: 'handler.address_refused', retryable: false });
      expect(fixture.requests).toHaveLength(0);
      await strict.close();
    });

    it('checks every redirect again: an allowed range does not let a redirect reach another private address', async () => {
      const narrow = createHandlerHttpClient({ allowedRanges: ['127.0.0.1/32'] });
      const port = new URL(fixture.url).port;
      fixture.route('GET', '/hop', () => ({ status: 302, headers: { location: `http://127.0.0.2:${port}/inside` } }));
      fixture.route('GET', '/inside', () => ({ body: 'secret' }));
      expect(await handlerFailureOf(narrow.request({ url: `${fixture.url}/hop` }))).toEqual({ code: 'handler.address_refused', retryable: false });
      expect(fixture.requests.map((request) => request.path)).toEqual(['/hop']);
      await narrow.close();
    });

    it('refuses a host when any one of its addresses is private', async () => {
      const lookup = createGuardedLookup(createAddressCheck({}), (_host, _options, callback) =>
        callback(null, [
          { address: '93.184.215.14', family: 4 },
          { address: '169.254.169.254', family: 4 },
        ]),
      );
      const error = await new Promise<unknown>((resolve) => lookup('mixed.example', { all: true }, (failure) => resolve(failure)));
      expect(HandlerError.isInstance(error) && error.code).toBe('handler.address_refused');
    });

    it('calls only global unicast public: loopback, private, link-local, CGNAT, unique-local and mapped forms are not', () => {
      expect(['8.8.8.8', '2606:4700::1111'].map(isPublicAddress)).toEqual([true, true]);
      const refused = ['127.0.0.1', '10.0.0.1', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fe80::1', 'fc00::1', '::ffff:127.0.0.1', '64:ff9b::a00:1', 'not-an-ip'];
      expect(refused.filter(isPublicAddress)).toEqual([]);
    });

    it('refuses schemes other than http and https', async () => {
      expect(await handlerFailureOf(local.request({ url: 'file:///etc/passwd' }))).toEqual({ code: 'handler.invalid_url', retryable: false });
      expect(await handlerFailureOf(local.request({ url: 'not a url' }))).toEqual({ code: 'handler.invalid_url', retryable: false });
    });
  });

  describe('redirects', () => {
    it('follows a redirect, turning a POST into a GET on 303 and dropping credentials across origins', async () => {
      const port = new URL(fixture.url).port;
      fixture.route('POST', '/form', () => ({ status: 303, headers: { location: `http://localhost:${port}/done` } }));
      fixture.route('GET', '/done', (request) => ({ body: { authorization: request.headers.authorization ?? null } }));
      const response = await local.request({ url: `${fixture.url}/form`, method: 'POST', body: 'x', headers: { Authorization: 'Basic abc' } });
      expect(response.json()).toEqual({ authorization: null });
      expect(response.url).toBe(`http://localhost:${port}/done`);
      expect(fixture.requests.map((request) => `${request.method} ${request.path}`)).toEqual(['POST /form', 'GET /done']);
    });

    it('stops after the redirect cap with handler.too_many_redirects', async () => {
      fixture.route('GET', '/loop', () => ({ status: 301, headers: { location: '/loop' } }));
      expect(await handlerFailureOf(local.request({ url: `${fixture.url}/loop` }))).toEqual({ code: 'handler.too_many_redirects', retryable: false });
      expect(fixture.requests).toHaveLength(3);
    });
  });

  describe('limits', () => {
    it('refuses a response larger than the limit, declared or streamed', async () => {
      fixture.route('GET', '/big', () => ({ body: 'x'.repeat(2048) }));
      expect(await handlerFailureOf(local.request({ url: `${fixture.url}/big` }))).toEqual({ code: 'handler.response_too_large', retryable: false });
      fixture.route('GET', '/chunked', () => ({ headers: { 'transfer-encoding': 'chunked' }, body: 'y'.repeat(4096) }));
      expect(await handlerFailureOf(local.request({ url: `${fixture.url}/chunked`, maxResponseBytes: 100 }))).toEqual({ code: 'handler.response_too_large', retryable: false });
    });

    it('gives up on a server that does not answer with handler.timeout, retryable', async () => {
      fixture.route('GET', '/hang', () => new Promise(() => {}));
      expect(await handlerFailureOf(local.request({ url: `${fixture.url}/hang`, timeoutMs: 50 }))).toEqual({ code: 'handler.timeout', retryable: true });
    });

    it('reports a cancelled call as handler.cancelled', async () => {
      fixture.route('GET', '/hang', () => new Promise(() => {}));
      const controller = new AbortController();
      const pending = local.request({ url: `${fixture.url}/hang`, signal: controller.signal });
      await expect.poll(() => fixture.requests.length).toBe(1);
      controller.abort();
      expect(await handlerFailureOf(pending)).toEqual({ code: 'handler.cancelled', retryable: true });
    });

    it('sends a GET again once when the connection is dropped before an answer, never a POST', async () => {
      let calls = 0;
      fixture.route('GET', '/flaky', () => (++calls === 1 ? { dropConnection: true } : { body: 'ok' }));
      expect((await local.request({ url: `${fixture.url}/flaky` })).text()).toBe('ok');
      fixture.route('POST', '/drop', () => ({ dropConnection: true }));
      expect(await handlerFailureOf(local.request({ url: `${fixture.url}/drop`, method: 'POST', body: '{}' }))).toEqual({ code: 'handler.request_failed', retryable: true });
      expect(fixture.requests.filter((request) => request.path === '/drop')).toHaveLength(1);
    });

    it('reports a refused connection as handler.request_failed, retryable', async () => {
      const closed = await startHttpFixture();
      await closed.close();
      expect(await handlerFailureOf(local.request({ url: `${closed.url}/` }))).toEqual({ code: 'handler.request_failed', retryable: true });
    });
  });
});
