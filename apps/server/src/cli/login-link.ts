import { parseArgs } from 'node:util';
import { issueLoginLink } from 'data-machine';
import { loadConfig } from '../config/config';
import { resolveSecretKey } from '../config/secret-key';
import { UsageError } from './command';

/** The usage line of `login-link`. */
export const loginLinkUsage = 'login-link --as <email> [--minutes <1-1440>]  print a one-time console login link (no database needed)';

/**
 * The console address that signs `email` in once: the public URL with the
 * signed token after `#` (a fragment never reaches server logs nor a
 * `Referer`). The email is resolved when the link is used.
 */
export function loginLinkUrl(publicUrl: string, token: string): string {
  return `${publicUrl}/#/login/${token}`;
}

/**
 * Runs `data-machine login-link --as <email>`: signs a link with the secret
 * key alone, so it works beside a running embedded server whose database
 * another process cannot open. Resolves to the text to print.
 *
 * @throws UsageError for missing or bad arguments.
 */
export function runLoginLinkCommand(argv: readonly string[], options: { readonly publicUrl: string; readonly secretKey: string; readonly now: Date }): string {
  let values: { as?: string | undefined; minutes?: string | undefined };
  try {
    ({ values } = parseArgs({ args: [...argv], options: { as: { type: 'string' }, minutes: { type: 'string' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
  if (!values.as || !values.as.includes('@')) throw new UsageError('login-link needs --as <email>');
  const minutes = values.minutes === undefined ? 15 : Number(values.minutes);
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) throw new UsageError('--minutes must be a whole number from 1 to 1440');
  const { token, expiresAt } = issueLoginLink({ email: values.as, secretKey: options.secretKey, now: options.now, lifetimeMs: minutes * 60_000 });
  return `${loginLinkUrl(options.publicUrl, token)}\n(one use, until ${expiresAt.toISOString()})\n`;
}

/** Runs `login-link` with the configured public URL and secret key, printing the link; resolves to the exit code (2 for a usage error). */
export async function runLoginLink(argv: readonly string[]): Promise<number> {
  const config = loadConfig(process.env);
  try {
    process.stdout.write(runLoginLinkCommand(argv, { publicUrl: config.publicUrl, secretKey: await resolveSecretKey(config.secretKey), now: new Date() }));
    return 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`data-machine: ${error.message}\n`);
    return 2;
  }
}
