import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const port = 'must be a whole number from 0 to 65535';

/**
 * The environment the server reads, validated. Each variable's description is
 * the documentation: `docs/operations.md` renders its table from this schema
 * (a test keeps them equal).
 */
export const serverEnvironmentSchema = z.object({
  DATABASE_URL: z
    .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' })
    .optional()
    .describe('A `postgres://` URL: use that PostgreSQL instead of the embedded PGlite. Set it for production.'),
  DM_DATA_DIR: z
    .string()
    .min(1, 'must not be empty')
    .default('.data')
    .describe('Where the embedded PGlite and the generated secret key are kept (relative to the working directory).'),
  DM_CONFIG_FILE: z
    .string()
    .min(1, 'must not be empty')
    .optional()
    .describe('A JSON file with any of these variables as keys; the environment overrides it.'),
  HOST: z.string().min(1, 'must not be empty').default('127.0.0.1').describe('The address the HTTP server listens on.'),
  PORT: z.coerce.number({ error: port }).int(port).min(0, port).max(65535, port).default(3000).describe('The HTTP port; 0 picks a free one.'),
  LOG_LEVEL: z
    .enum(logLevels, { error: `must be one of ${logLevels.join(', ')}` })
    .default('info')
    .describe(`The least level logged: ${logLevels.join(', ')}.`),
  OPENAI_BASE_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
    .optional()
    .describe("Any OpenAI-compatible endpoint (for example a local model server); unset: OpenAI's."),
  OPENAI_API_KEY: z.string().min(1, 'must not be empty').optional().describe('The key sent to the model endpoint; agents cannot run without it.'),
  DEFAULT_MODEL: z
    .string()
    .min(1, 'must not be empty')
    .default('gpt-4.1-mini')
    .describe("The model an agent uses when its configuration names none."),
  DM_HOME_TENANT: z
    .string()
    .min(1, 'must not be empty')
    .default('default')
    .describe("The slug of the tenant the server's registered agents are materialised in at start (they are reconciled into its agents idempotently)."),
  SECRET_KEY: z
    .string()
    .min(32, 'must be at least 32 characters')
    .optional()
    .describe(
      'Seals handler credentials (the agents\' secrets: changing the key makes stored ones unreadable, `secret.unreadable`; set them again) and flows\' webhook secrets, and signs approval and login links. Required with DATABASE_URL (every process must share it); on the embedded database it is generated on first start and kept in DM_DATA_DIR.',
    ),
  PUBLIC_URL: z
    .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
    .optional()
    .describe(
      'The address people reach the server at: login links are printed with it, and console cookies are `Secure` when it is https. Unset: `http://<HOST>:<PORT>` (`localhost` for an unspecified HOST).',
    ),
  HANDLERS_ALLOW_PRIVATE_ADDRESSES: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .describe("The server-wide override for development and tests: true lets every tenant's handlers (feeds, webhooks, WordPress, HTTP JSON) reach private, loopback and link-local addresses, whatever the tenant's own setting. Default false: such addresses are refused (SSRF protection) except to the tenants the operator allows (`data-machine tenants set <tenant> --allow-private-addresses true --as system`)."),
  CONSOLE_SESSION_IDLE_MINUTES: z.coerce
    .number({ error: 'must be a whole number from 1 to 10080' })
    .int('must be a whole number from 1 to 10080')
    .min(1, 'must be a whole number from 1 to 10080')
    .max(10_080, 'must be a whole number from 1 to 10080')
    .default(720)
    .describe('A console session signs out after this many minutes without a request.'),
  CONSOLE_SESSION_MAX_HOURS: z.coerce
    .number({ error: 'must be a whole number from 1 to 2160' })
    .int('must be a whole number from 1 to 2160')
    .min(1, 'must be a whole number from 1 to 2160')
    .max(2160, 'must be a whole number from 1 to 2160')
    .default(168)
    .describe('A console session signs out this many hours after sign-in, however busy.'),
  DM_WEBHOOK_MAX_BYTES: z.coerce
    .number({ error: 'must be a whole number from 1 to 1048576' })
    .int('must be a whole number from 1 to 1048576')
    .min(1, 'must be a whole number from 1 to 1048576')
    .max(1_048_576, 'must be a whole number from 1 to 1048576')
    .default(262_144)
    .describe('The largest body a flow\'s inbound webhook accepts, in bytes; a larger one is answered 413 and nothing is stored.'),
  DM_FILE_MAX_BYTES: z.coerce
    .number({ error: 'must be a whole number from 1 to 104857600' })
    .int('must be a whole number from 1 to 104857600')
    .min(1, 'must be a whole number from 1 to 104857600')
    .max(104_857_600, 'must be a whole number from 1 to 104857600')
    .default(10_485_760)
    .describe('The largest file that may be uploaded to a flow, in bytes (files are stored in the database); a larger one is answered 413.'),
  DM_CHANGE_FED_CACHES: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('true')
    .describe(
      "Whether a process that serves HTTP keeps what authentication reads and agents' memory prompts in memory, emptied by the database's change notifications (`dm_access_changed`, `dm_memory_changed`) on one extra connection. false: every request and chat turn reads the database, and no listening connection is held.",
    ),
  RATE_LIMIT_MAX: z.coerce
    .number({ error: 'must be a whole number from 1' })
    .int('must be a whole number from 1')
    .min(1, 'must be a whole number from 1')
    .default(600)
    .describe('Requests one API token (or, unauthenticated, one client address) may send per window; more are answered 429 with `retry-after`.'),
  RATE_LIMIT_WINDOW_SECONDS: z.coerce
    .number({ error: 'must be a whole number from 1 to 86400' })
    .int('must be a whole number from 1 to 86400')
    .min(1, 'must be a whole number from 1 to 86400')
    .max(86_400, 'must be a whole number from 1 to 86400')
    .default(60)
    .describe('The rate limit window, in seconds. Counters are per process.'),
});

/** The names of the variables the server reads. */
export type ServerVariable = keyof typeof serverEnvironmentSchema.shape;

/** Where the server keeps its data. */
export type DatabaseConfig =
  | { readonly kind: 'pglite'; readonly dataDir: string }
  | { readonly kind: 'postgres'; readonly url: string };

/** Where the secret key comes from: the configuration, or a file the embedded start generates. */
export type SecretKeySource = { readonly kind: 'given'; readonly key: string } | { readonly kind: 'file'; readonly path: string };

/** The server's configuration, resolved from the environment. */
export interface ServerConfig {
  readonly database: DatabaseConfig;
  readonly host: string;
  readonly port: number;
  readonly logLevel: (typeof logLevels)[number];
  readonly model: { readonly baseURL: string | undefined; readonly apiKey: string | undefined; readonly defaultModel: string };
  readonly secretKey: SecretKeySource;
  /** The slug of the tenant registered agents live in. */
  readonly homeTenant: string;
  /** Requests per window and token (or client address). */
  readonly rateLimit: { readonly max: number; readonly windowMs: number };
  /** The address people reach the server at, without a trailing slash. */
  readonly publicUrl: string;
  /** Whether handlers may reach private, loopback and link-local addresses. */
  readonly handlersAllowPrivateAddresses: boolean;
  /** Console sessions: idle and absolute lifetimes. */
  readonly consoleSession: { readonly idleMs: number; readonly absoluteMs: number };
  /** Body caps of what reaches flows from outside: inbound webhook deliveries and uploaded files. */
  readonly inbound: InboundLimits;
  /** Whether a serving process keeps the change-fed caches (access, memory prompts). */
  readonly changeFedCaches: boolean;
}

/** Body caps of inbound webhook deliveries and uploaded files, in bytes. */
export interface InboundLimits {
  readonly webhookMaxBytes: number;
  readonly fileMaxBytes: number;
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

/** The name of the generated secret key's file in the data directory. */
export const secretKeyFileName = 'secret-key';

/**
 * Reads the configuration from `environment`, over the JSON file
 * `DM_CONFIG_FILE` names if any (relative paths resolve against `cwd`).
 * Empty variables count as unset.
 *
 * @throws ConfigError listing every bad variable, never a stack of zod internals.
 */
export function loadConfig(environment: NodeJS.ProcessEnv, cwd: string = process.cwd()): ServerConfig {
  const fromEnvironment = presentValues(environment);
  const file = fromEnvironment.DM_CONFIG_FILE;
  const present = { ...(typeof file === 'string' ? readConfigFile(path.resolve(cwd, file)) : {}), ...fromEnvironment };
  const parsed = serverEnvironmentSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = issue.path.join('.');
        const value = name === 'SECRET_KEY' || name === 'OPENAI_API_KEY' ? undefined : present[name];
        return `${name} ${issue.message}${value === undefined ? '' : ` (got ${JSON.stringify(value)})`}`;
      }),
    );
  }
  const env = parsed.data;
  if (env.DATABASE_URL && env.SECRET_KEY === undefined) {
    throw new ConfigError(['SECRET_KEY is required with DATABASE_URL (every process must share it)']);
  }
  const dataDir = path.resolve(cwd, env.DM_DATA_DIR);
  return {
    database: env.DATABASE_URL ? { kind: 'postgres', url: env.DATABASE_URL } : { kind: 'pglite', dataDir },
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    model: { baseURL: env.OPENAI_BASE_URL, apiKey: env.OPENAI_API_KEY, defaultModel: env.DEFAULT_MODEL },
    secretKey: env.SECRET_KEY === undefined ? { kind: 'file', path: path.join(dataDir, secretKeyFileName) } : { kind: 'given', key: env.SECRET_KEY },
    homeTenant: env.DM_HOME_TENANT,
    rateLimit: { max: env.RATE_LIMIT_MAX, windowMs: env.RATE_LIMIT_WINDOW_SECONDS * 1000 },
    handlersAllowPrivateAddresses: env.HANDLERS_ALLOW_PRIVATE_ADDRESSES === 'true',
    publicUrl: (env.PUBLIC_URL ?? defaultPublicUrl(env.HOST, env.PORT)).replace(/\/+$/, ''),
    consoleSession: { idleMs: env.CONSOLE_SESSION_IDLE_MINUTES * 60_000, absoluteMs: env.CONSOLE_SESSION_MAX_HOURS * 3_600_000 },
    inbound: { webhookMaxBytes: env.DM_WEBHOOK_MAX_BYTES, fileMaxBytes: env.DM_FILE_MAX_BYTES },
    changeFedCaches: env.DM_CHANGE_FED_CACHES === 'true',
  };
}

function defaultPublicUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${reachable}:${port}`;
}

function presentValues(values: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined && value !== ''));
}

/** The variables a config file sets: a JSON object of strings (numbers are taken as their text). */
const configFileSchema = z.record(z.string(), z.union([z.string(), z.number()]).transform(String));

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([`DM_CONFIG_FILE cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'}: ${file})`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError([`DM_CONFIG_FILE is not valid JSON (${file})`]);
  }
  const parsed = configFileSchema.safeParse(json);
  if (!parsed.success) throw new ConfigError([`DM_CONFIG_FILE must hold a JSON object of strings (${file})`]);
  const unknown = Object.keys(parsed.data).filter((name) => !(name in serverEnvironmentSchema.shape) || name === 'DM_CONFIG_FILE');
  if (unknown.length > 0) throw new ConfigError([`DM_CONFIG_FILE names unknown variables: ${unknown.join(', ')} (${file})`]);
  return presentValues(parsed.data);
}
