import path from 'node:path';
import { z } from 'zod';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The environment the server reads, validated; every variable is documented in the README. */
export const serverEnvironmentSchema = z.object({
  DATABASE_URL: z
    .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' })
    .optional()
    .describe('Use this Postgres instead of the embedded PGlite'),
  DM_DATA_DIR: z.string().min(1, 'must not be empty').default('.data').describe('Where the embedded PGlite keeps its files'),
  HOST: z.string().min(1, 'must not be empty').default('127.0.0.1'),
  PORT: z.coerce
    .number({ error: 'must be a whole number from 0 to 65535' })
    .int('must be a whole number from 0 to 65535')
    .min(0, 'must be a whole number from 0 to 65535')
    .max(65535, 'must be a whole number from 0 to 65535')
    .default(3000),
  LOG_LEVEL: z.enum(logLevels, { error: `must be one of ${logLevels.join(', ')}` }).default('info'),
});

/** Where the server keeps its data. */
export type DatabaseConfig =
  | { readonly kind: 'pglite'; readonly dataDir: string }
  | { readonly kind: 'postgres'; readonly url: string };

/** The server's configuration, resolved from the environment. */
export interface ServerConfig {
  readonly database: DatabaseConfig;
  readonly host: string;
  readonly port: number;
  readonly logLevel: (typeof logLevels)[number];
}

/** A configuration value the server cannot start with; `message` names each bad variable. */
export class ConfigError extends Error {
  readonly code = 'config.invalid';
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/**
 * Reads the configuration from `environment` (relative paths resolve against `cwd`).
 * Empty variables count as unset.
 *
 * @throws ConfigError listing every bad variable, never a stack of zod internals.
 */
export function loadConfig(environment: NodeJS.ProcessEnv, cwd: string = process.cwd()): ServerConfig {
  const present = Object.fromEntries(Object.entries(environment).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = serverEnvironmentSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = issue.path.join('.');
        const value = present[name];
        return `${name} ${issue.message}${value === undefined ? '' : ` (got ${JSON.stringify(value)})`}`;
      }),
    );
  }
  const env = parsed.data;
  return {
    database: env.DATABASE_URL ? { kind: 'postgres', url: env.DATABASE_URL } : { kind: 'pglite', dataDir: path.resolve(cwd, env.DM_DATA_DIR) },
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
  };
}
