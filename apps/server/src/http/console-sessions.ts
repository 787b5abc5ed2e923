import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  authenticateBearer,
  authenticateConsoleSession,
  createConsoleSession,
  DataMachineError,
  findUser,
  redeemLoginLink,
  revokeConsoleSession,
  type BearerAuthentication,
  type ConsoleSessionPolicy,
  type DataMachineContext,
} from 'data-machine';
import { z } from 'zod';
import { authenticateRequestWith, requestIdentity } from './authentication';
import { parseCookies, serializeCookie } from './cookies';
import { HttpError } from './http-error';
import { bearer, bodyErrors, instant, instantSchema, scopedErrors } from './routes/schemas';

/** The httpOnly cookie that carries a console session's secret. */
export const sessionCookie = 'dm_session';
/** The cookie the console reads its CSRF token from (readable by scripts, by design). */
export const csrfCookie = 'dm_csrf';
/** The header a cookie-authenticated change must repeat the CSRF token in. */
export const csrfHeader = 'x-csrf-token';

/** How the console signs people in. */
export interface ConsoleSessionOptions {
  /** The server's secret key: it signs login links. */
  readonly secretKey: string;
  /** Whether cookies are `Secure` (the server is reached over https). */
  readonly secureCookies: boolean;
  readonly policy: ConsoleSessionPolicy;
}

// Reading is safe without a CSRF token: SameSite=Strict keeps the cookie off cross-site requests, and CORS keeps their answers unread.
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Cookie sessions for the web console: a request with the session cookie and
 * no `Authorization` header authenticates as the session's user through
 * `requestIdentity`, like a personal access token; a change (any method but
 * GET, HEAD, OPTIONS) must also send the session's CSRF token in
 * `x-csrf-token` (`csrf.invalid` otherwise). Register on the root app,
 * before the routes it authenticates (and the rate limit, which counts a
 * session like a token).
 */
export function registerConsoleSessions(app: FastifyInstance, context: DataMachineContext, options: ConsoleSessionOptions): void {
  app.addHook('onRequest', async (request) => {
    if (request.headers.authorization !== undefined) return;
    const secret = parseCookies(request.headers.cookie).get(sessionCookie);
    if (secret === undefined || secret === '') return;
    authenticateRequestWith(request, () => sessionIdentity(context, options, request, secret));
  });
}

async function sessionIdentity(context: DataMachineContext, options: ConsoleSessionOptions, request: FastifyRequest, secret: string): Promise<BearerAuthentication> {
  const session = await authenticateConsoleSession(context, secret, 'http', options.policy);
  if (!safeMethods.has(request.method)) {
    const presented = request.headers[csrfHeader];
    if (typeof presented !== 'string' || !session.csrfMatches(presented)) {
      throw new HttpError('csrf.invalid', `A change made with the console's session cookie must send its CSRF token in "${csrfHeader}".`);
    }
  }
  return { kind: 'user', actor: session.actor, tokenId: `session:${session.session.id}` };
}

const signInBody = z
  .strictObject({
    /** A one-time login link's token (`dmll_…`). */
    loginToken: z.string().min(1).max(2000).optional(),
    /** A personal access token (`dmpt_…`). */
    token: z.string().min(1).max(500).optional(),
  })
  .refine((body) => (body.loginToken === undefined) !== (body.token === undefined), { message: 'Send either loginToken or token', path: ['loginToken'] });

const signedInSchema = z.object({
  user: z.object({ id: z.string(), email: z.string(), displayName: z.string() }),
  csrfToken: z.string(),
  expiresAt: instantSchema,
  idleTimeoutSeconds: z.number().int(),
});

/** `POST /console/sessions` (sign in with a login link or a personal access token) and `DELETE /console/session` (sign out). */
export function registerConsoleSessionRoutes(app: FastifyInstance, context: DataMachineContext, options: ConsoleSessionOptions): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['console'];

  routes.post(
    '/console/sessions',
    {
      schema: {
        tags,
        summary: 'Sign in to the console with a one-time login link or a personal access token; sets the session cookie',
        body: signInBody,
        response: { 201: signedInSchema, ...bodyErrors },
      },
    },
    async (request, reply) => {
      const actor =
        request.body.loginToken !== undefined
          ? await redeemLoginLink(context, request.body.loginToken, options.secretKey, 'http')
          : await personalTokenActor(context, request.body.token ?? '');
      const user = await findUser(context, actor.userId);
      if (!user) throw new DataMachineError('user.not_found', `There is no user "${actor.userId}".`);
      const { session, secret, csrfToken } = await createConsoleSession(context, actor, { policy: options.policy });
      setSessionCookies(reply, options, secret, csrfToken, options.policy.absoluteMs / 1000);
      return reply.code(201).send({
        user: { id: user.id, email: user.email, displayName: user.displayName },
        csrfToken,
        expiresAt: instant(session.expiresAt),
        idleTimeoutSeconds: Math.floor(options.policy.idleMs / 1000),
      });
    },
  );

  routes.delete(
    '/console/session',
    { schema: { tags, security: bearer, summary: 'Sign out: revokes the console session and clears its cookies', response: { 204: z.null(), ...scopedErrors } } },
    async (request, reply) => {
      const secret = parseCookies(request.headers.cookie).get(sessionCookie);
      if (secret === undefined || request.headers.authorization !== undefined) {
        throw new HttpError('auth.required', 'Sign out is for a console session: send its cookie, not a bearer token.');
      }
      // Authenticates the session and checks its CSRF token: nobody signs another out by a forged request.
      await requestIdentity(context, request);
      await revokeConsoleSession(context, secret);
      setSessionCookies(reply, options, '', '', 0);
      return reply.code(204).send(null);
    },
  );
}

/** Only a personal access token opens a console session: an agent token acts for an agent, not a person. */
async function personalTokenActor(context: DataMachineContext, token: string) {
  const identity = await authenticateBearer(context, token, 'http');
  if (identity.kind !== 'user') {
    throw new DataMachineError('access.denied', 'Not permitted: sign in to the console with a personal access token, not an agent token.', { details: { reason: 'not_a_user' } });
  }
  return identity.actor;
}

function setSessionCookies(reply: FastifyReply, options: ConsoleSessionOptions, secret: string, csrfToken: string, maxAgeSeconds: number): void {
  void reply.header('set-cookie', [
    serializeCookie(sessionCookie, secret, { httpOnly: true, secure: options.secureCookies, maxAgeSeconds }),
    serializeCookie(csrfCookie, csrfToken, { httpOnly: false, secure: options.secureCookies, maxAgeSeconds }),
  ]);
  // Responses that set a session are never cached by anything in between.
  void reply.header('cache-control', 'no-store');
}
