import { parseArgs } from 'node:util';
import { UsageError } from './command';

/** Who owns a new installation. */
export interface FirstOwner {
  readonly email: string;
  readonly displayName: string;
  readonly tenantSlug: string;
  readonly tenantName: string;
}

/** The owner `init --email <address> [--name <display name>] [--tenant <slug>]` names, or the usage error its command line is. */
export function initOptions(args: readonly string[]): FirstOwner | UsageError {
  try {
    const { values } = parseArgs({
      args: [...args],
      options: { email: { type: 'string' }, name: { type: 'string' }, tenant: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    });
    if (!values.email) return new UsageError('init needs --email <address>');
    const tenant = values.tenant ?? 'default';
    return { email: values.email, displayName: values.name ?? values.email, tenantSlug: tenant, tenantName: tenant };
  } catch (error) {
    return new UsageError((error as Error).message.split('\n')[0] ?? 'bad arguments');
  }
}
