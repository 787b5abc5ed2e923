import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  DataMachineError,
  addMember,
  authenticateBearer,
  createAgent,
  createAgentToken,
  createTenant,
  createUser,
  createUserToken,
  findUserByEmail,
  getAgent,
  grantAgentRole,
  listAgentTokens,
  listAgents,
  listMembers,
  listMyTenants,
  listUserTokens,
  revokeAgentToken,
  revokeUserToken,
  agentRoleSchema,
  tenantCapabilitySchema,
  tenantRoleSchema,
  updateTenantSettings,
  type DataMachineContext,
  type HandlerRegistry,
  type JobEngine,
  type SecretBox,
} from 'data-machine';
import { scopeInTenant, type Acting } from '../http/authentication';
import { createDefaultHandlers } from '../handlers/default-handlers';
import { approvalCommands } from './approval-commands';
import { secretCommands } from './secret-commands';
import { templateCommands } from './template-commands';
import { automationCommands, inboundCommands, nextPage, page } from './automation-commands';
import { done, iso, noProgress, oneOf, required, text, UsageError, type AdminCommand, type ProgressDisplay, type Values } from './command';

export { UsageError, type CommandResult, type ProgressDisplay } from './command';

async function userIdByEmail(context: DataMachineContext, email: string): Promise<string> {
  const user = await findUserByEmail(context, email);
  if (!user) throw new DataMachineError('user.not_found', `There is no user with the email "${email}".`, { details: { email } });
  return user.id;
}

/**
 * The identity commands: each a thin wrapper over one product function,
 * acting as the explicit `--as` user (or the system principal, or `--token`),
 * authorized by the product exactly like the HTTP API.
 */
const identityCommands: readonly AdminCommand[] = [
  {
    words: ['users', 'create'],
    usage: 'users create --email <address> --name <display name> --as system',
    options: { email: text, name: text },
    positionals: 0,
    async run({ context, acting, values }) {
      const user = await createUser(context, acting.actor, { email: required(values, 'email'), displayName: required(values, 'name') });
      return done(`created user ${user.email} (${user.id})`, user);
    },
  },
  {
    words: ['tenants', 'list'],
    usage: 'tenants list --as <email>',
    options: {},
    positionals: 0,
    async run({ context, acting }) {
      const memberships = await listMyTenants(context, acting.actor);
      return { kind: 'rows', columns: ['slug', 'name', 'role', 'id'], rows: memberships.map(({ tenant, role }) => ({ slug: tenant.slug, name: tenant.name, role, id: tenant.id })) };
    },
  },
  {
    words: ['tenants', 'create'],
    usage: 'tenants create --slug <slug> --name <name> --as <email> | --as system --owner <email>',
    options: { slug: text, name: text, owner: text },
    positionals: 0,
    async run({ context, acting, values }) {
      const owner = typeof values.owner === 'string' ? await userIdByEmail(context, values.owner) : null;
      const { tenant } = await createTenant(context, acting.actor, { slug: required(values, 'slug'), name: required(values, 'name'), ownerUserId: owner });
      return done(`created tenant ${tenant.slug} (${tenant.id})`, tenant);
    },
  },
  {
    words: ['tenants', 'set'],
    usage: 'tenants set <tenant> --allow-private-addresses <true|false> --as system',
    options: { 'allow-private-addresses': text },
    positionals: 1,
    async run({ context, acting, values, positionals }) {
      // The operator's switch: the product refuses anyone but the system principal (access.denied).
      const allowPrivateAddresses = oneOf(values, 'allow-private-addresses', { options: ['true', 'false'] as const }) === 'true';
      const tenant = await updateTenantSettings(context, await scopeInTenant(context, acting, positionals[0]), { allowPrivateAddresses });
      return done(`${tenant.slug}: handlers ${tenant.allowPrivateAddresses ? 'may' : 'may not'} reach private, loopback and link-local addresses`, tenant);
    },
  },
  {
    words: ['tenants', 'members'],
    usage: 'tenants members [--limit <n>] [--cursor <cursor>] [--tenant <slug>] --as <email>',
    options: { limit: text, cursor: text },
    positionals: 0,
    async run({ context, values, scope }) {
      const members = await listMembers(context, await scope(), page(values));
      const footer = nextPage(members.nextCursor);
      const rows = members.items.map((member) => ({ email: member.email, name: member.displayName, role: member.role, joined: iso(member.createdAt), id: member.userId }));
      return { kind: 'rows', columns: ['email', 'name', 'role', 'joined', 'id'], rows, ...(footer === undefined ? {} : { footer }), value: members };
    },
  },
  {
    words: ['members', 'add'],
    usage: 'members add --user <email> --role <owner|admin|editor|author|subscriber> [--tenant <slug>] --as <email>',
    options: { user: text, role: text },
    positionals: 0,
    async run({ context, values, scope }) {
      const userId = await userIdByEmail(context, required(values, 'user'));
      const member = await addMember(context, await scope(), { userId, role: oneOf(values, 'role', tenantRoleSchema) });
      return done(`${required(values, 'user')} is ${member.role}`, member);
    },
  },
  {
    words: ['agents', 'list'],
    usage: 'agents list [--tenant <slug>] --as <email>',
    options: {},
    positionals: 0,
    async run({ context, scope }) {
      const agents = await listAgents(context, await scope());
      return { kind: 'rows', columns: ['slug', 'name', 'role', 'id'], rows: agents.map((agent) => ({ slug: agent.slug, name: agent.name, role: agent.role, id: agent.id })) };
    },
  },
  {
    words: ['agents', 'show'],
    usage: 'agents show <agent> [--tenant <slug>] --as <email>',
    options: {},
    positionals: 1,
    async run({ context, scope, positionals }) {
      const agent = await getAgent(context, await scope(), positionals[0] ?? '');
      return done(`${agent.slug}: ${agent.name} (${agent.id})`, agent);
    },
  },
  {
    words: ['agents', 'create'],
    usage: 'agents create --slug <slug> --name <name> [--instructions <text>] [--tenant <slug>] --as <email>',
    options: { slug: text, name: text, instructions: text },
    positionals: 0,
    async run({ context, values, scope }) {
      const instructions = typeof values.instructions === 'string' ? { instructions: values.instructions } : {};
      const agent = await createAgent(context, await scope(), { slug: required(values, 'slug'), name: required(values, 'name'), config: instructions });
      return done(`created agent ${agent.slug} (${agent.id})`, agent);
    },
  },
  {
    words: ['agents', 'grant'],
    usage: 'agents grant <agent> --user <email> --role <admin|operator|viewer> [--tenant <slug>] --as <email>',
    options: { user: text, role: text },
    positionals: 1,
    async run({ context, values, scope, positionals }) {
      const userId = await userIdByEmail(context, required(values, 'user'));
      const grant = await grantAgentRole(context, await scope(), positionals[0] ?? '', { userId, role: oneOf(values, 'role', agentRoleSchema) });
      return done(`${required(values, 'user')} is ${grant.role} on ${positionals[0] ?? ''}`, grant);
    },
  },
  {
    words: ['agents', 'token', 'create'],
    usage: 'agents token create <agent> --label <label> --ceiling <capability,...> [--expires <ISO instant>] [--tenant <slug>] --as <email>',
    options: { label: text, ceiling: text, expires: text },
    positionals: 1,
    async run({ context, values, scope, positionals }) {
      const expires = typeof values.expires === 'string' ? new Date(values.expires) : null;
      if (expires !== null && Number.isNaN(expires.getTime())) throw new UsageError('--expires must be an ISO instant');
      const ceiling = required(values, 'ceiling')
        .split(',')
        .map((capability) => oneOf({ ceiling: capability.trim() }, 'ceiling', tenantCapabilitySchema));
      const { token, secret } = await createAgentToken(context, await scope(), positionals[0] ?? '', { label: required(values, 'label'), ceiling, expiresAt: expires });
      return done(`token ${token.id} (shown once, keep it): ${secret}`, { token, secret });
    },
  },
  {
    words: ['agents', 'token', 'list'],
    usage: 'agents token list <agent> [--tenant <slug>] --as <email>',
    options: {},
    positionals: 1,
    async run({ context, scope, positionals }) {
      const tokens = await listAgentTokens(context, await scope(), positionals[0] ?? '');
      return {
        kind: 'rows',
        columns: ['id', 'prefix', 'label', 'ceiling', 'expires', 'revoked'],
        rows: tokens.map((token) => ({ id: token.id, prefix: token.prefix, label: token.label, ceiling: token.ceiling.join(','), expires: iso(token.expiresAt), revoked: iso(token.revokedAt) })),
      };
    },
  },
  {
    words: ['agents', 'token', 'revoke'],
    usage: 'agents token revoke <agent> <token id> [--tenant <slug>] --as <email>',
    options: {},
    positionals: 2,
    async run({ context, scope, positionals }) {
      const token = await revokeAgentToken(context, await scope(), positionals[0] ?? '', positionals[1] ?? '');
      return done(`revoked ${token.id}`, token);
    },
  },
  {
    words: ['tokens', 'create'],
    usage: 'tokens create --label <label> [--expires <ISO instant>] --as <email>',
    options: { label: text, expires: text },
    positionals: 0,
    async run({ context, acting, values }) {
      const expires = typeof values.expires === 'string' ? new Date(values.expires) : null;
      if (expires !== null && Number.isNaN(expires.getTime())) throw new UsageError('--expires must be an ISO instant');
      const { token, secret } = await createUserToken(context, acting.actor, { label: required(values, 'label'), expiresAt: expires });
      return done(`token ${token.id} (shown once, keep it): ${secret}`, { token, secret });
    },
  },
  {
    words: ['tokens', 'list'],
    usage: 'tokens list --as <email>',
    options: {},
    positionals: 0,
    async run({ context, acting }) {
      const tokens = await listUserTokens(context, acting.actor);
      return { kind: 'rows', columns: ['id', 'prefix', 'label', 'expires', 'revoked'], rows: tokens.map((token) => ({ id: token.id, prefix: token.prefix, label: token.label, expires: iso(token.expiresAt), revoked: iso(token.revokedAt) })) };
    },
  },
  {
    words: ['tokens', 'revoke'],
    usage: 'tokens revoke <token id> --as <email>',
    options: {},
    positionals: 1,
    async run({ context, acting, positionals }) {
      const token = await revokeUserToken(context, acting.actor, positionals[0] ?? '');
      return done(`revoked ${token.id}`, token);
    },
  },
];

/** Every administration command: identity, then automation (pipelines, flows, queues, jobs). */
export const adminCommands: readonly AdminCommand[] = [...identityCommands, ...automationCommands, ...inboundCommands, ...approvalCommands, ...secretCommands, ...templateCommands];

/** The administration command `argv` names, if any (its words come first). */
export function findAdminCommand(argv: readonly string[]): AdminCommand | undefined {
  return [...adminCommands].sort((a, b) => b.words.length - a.words.length).find((command) => command.words.every((word, index) => argv[index] === word));
}

/**
 * Runs an administration command and renders its result: a table, one
 * line, or with `--json` the value as JSON. Throws {@link UsageError} for a
 * command line it cannot read and the product's typed errors for refusals.
 */
export async function runAdminCommand(
  context: DataMachineContext,
  command: AdminCommand,
  argv: readonly string[],
  handlers: HandlerRegistry = createDefaultHandlers(context),
  engine: () => Promise<JobEngine> = noEngine,
  secrets: (purpose: string) => Promise<SecretBox> = noSecrets,
  stdin: () => Promise<string> = readStandardInput,
  extras: { readonly progress?: ProgressDisplay; readonly pause?: (ms: number) => Promise<void> } = {},
): Promise<string> {
  const { values, positionals } = readCommandLine(command, argv);
  const acting = await actingAs(context, values);
  const tenant = typeof values.tenant === 'string' ? values.tenant : undefined;
  const progress = values.json === true ? noProgress : (extras.progress ?? noProgress);
  const pause = extras.pause ?? ((ms: number) => delay(ms));
  const result = await command.run({ context, handlers, acting, values, positionals, scope: () => scopeInTenant(context, acting, tenant), engine, secrets, stdin, progress, pause });
  if (values.json === true) return `${JSON.stringify(result.kind === 'rows' ? (result.value ?? result.rows) : result.value, null, 2)}\n`;
  if (result.kind === 'done') return `${result.line}\n`;
  return `${renderTable(result.columns, result.rows)}${result.footer === undefined ? '' : `${result.footer}\n`}`;
}

/**
 * The options and positionals of `command`'s command line `argv` (its words
 * first), checked against the command alone: touches nothing, so the binary
 * answers a line it cannot read before it opens the database.
 *
 * @throws UsageError for unknown options, a missing `--as`/`--token`, or the wrong number of positionals.
 */
export function readCommandLine(command: AdminCommand, argv: readonly string[]): { readonly values: Values; readonly positionals: readonly string[] } {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv.slice(command.words.length),
      options: { ...command.options, as: text, token: text, tenant: text, json: { type: 'boolean' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split('\n')[0] ?? 'bad arguments'}; usage: data-machine ${command.usage}`);
  }
  const { values, positionals } = parsed as { values: Values; positionals: string[] };
  if (positionals.length !== command.positionals) throw new UsageError(`usage: data-machine ${command.usage}`);
  actingChoice(values);
  return { values, positionals };
}

async function readStandardInput(): Promise<string> {
  // At a terminal, say what is awaited: the value is typed, not passed, and ends with Ctrl-D.
  if (process.stdin.isTTY) process.stderr.write('data-machine: reading the value from stdin; end it with Ctrl-D\n');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8');
}

function noSecrets(): Promise<SecretBox> {
  return Promise.reject(new Error('This command runs without the server key; it cannot seal secrets.'));
}

function noEngine(): Promise<JobEngine> {
  return Promise.reject(new DataMachineError('engine.unavailable', 'This command runs without a job engine; nothing was started.'));
}

/** The acting principal of `--as system`, `--as <email>` or `--token <secret>`: exactly one, never implied. */
export async function actingAs(context: DataMachineContext, values: Values): Promise<Acting> {
  const { as, token } = actingChoice(values);
  if (token !== undefined) return authenticateBearer(context, token, 'cli');
  if (as === 'system') return { kind: 'system', actor: { kind: 'system', channel: 'cli', reason: 'cli --as system' } };
  const userId = await userIdByEmail(context, as ?? '');
  return { kind: 'named_user', actor: { kind: 'user', userId, channel: 'cli' } };
}

/** Exactly one of `--as` and `--token`, never implied. */
function actingChoice(values: Values): { readonly as?: string; readonly token?: string } {
  const as = typeof values.as === 'string' ? values.as : undefined;
  const token = typeof values.token === 'string' ? values.token : undefined;
  if (as !== undefined && token === undefined) return { as };
  if (token !== undefined && as === undefined) return { token };
  throw new UsageError('act as someone: --as <email>, --as system, or --token <token>');
}

function renderTable(columns: readonly string[], rows: readonly Readonly<Record<string, unknown>>[]): string {
  if (rows.length === 0) return '(none)\n';
  const cells = rows.map((row) => columns.map((column) => (row[column] === null || row[column] === undefined ? '-' : String(row[column]))));
  const widths = columns.map((column, index) => Math.max(column.length, ...cells.map((line) => line[index]?.length ?? 0)));
  const line = (values: readonly string[]): string => values.map((value, index) => value.padEnd(widths[index] ?? 0)).join('  ').trimEnd();
  return `${[line(columns), ...cells.map(line)].join('\n')}\n`;
}
