import { readFile } from 'node:fs/promises';
import { deleteAgentSecret, handlerSecretsPurpose, listAgentSecrets, setAgentSecret } from 'data-machine';
import { done, iso, optional, text, UsageError, type AdminCommand, type CommandInput } from './command';

/**
 * The value `secrets set` stores: the file `--value-file` names, else
 * standard input. Never an argument, which would land in shell history and
 * in the process list. One trailing newline (what `echo` and editors add) is
 * dropped; an empty value is refused by the product as invalid input.
 */
async function secretValue(input: CommandInput): Promise<string> {
  const file = optional(input.values, 'value-file');
  let raw: string;
  try {
    raw = file === undefined ? await input.stdin() : await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --value-file ${file ?? ''}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return raw.replace(/\r?\n$/, '');
}

/**
 * The agent's handler secrets: set (from stdin or a file), list (names and
 * times) and delete. No command prints a value. Authorized by the product
 * like the API: `agent.edit` to set or delete, `agent.read` to list.
 */
export const secretCommands: readonly AdminCommand[] = [
  {
    words: ['secrets', 'set'],
    usage: 'secrets set <agent> <name> [--value-file <path>] (else the value is read from stdin) [--tenant <slug>] --as <email>',
    options: { 'value-file': text },
    positionals: 2,
    async run(input) {
      const [agent = '', name = ''] = input.positionals;
      const value = await secretValue(input);
      const summary = await setAgentSecret(input.context, await input.secrets(handlerSecretsPurpose), await input.scope(), agent, name, value);
      return done(`set secret ${summary.name} of ${agent}`, summary);
    },
  },
  {
    words: ['secrets', 'list'],
    usage: 'secrets list <agent> [--tenant <slug>] --as <email>',
    options: {},
    positionals: 1,
    async run({ context, scope, positionals }) {
      const secrets = await listAgentSecrets(context, await scope(), positionals[0] ?? '');
      return { kind: 'rows', columns: ['name', 'created', 'updated'], rows: secrets.map((secret) => ({ name: secret.name, created: iso(secret.createdAt), updated: iso(secret.updatedAt) })), value: secrets };
    },
  },
  {
    words: ['secrets', 'delete'],
    usage: 'secrets delete <agent> <name> [--tenant <slug>] --as <email>',
    options: {},
    positionals: 2,
    async run({ context, scope, positionals }) {
      const [agent = '', name = ''] = positionals;
      await deleteAgentSecret(context, await scope(), agent, name);
      return done(`deleted secret ${name} of ${agent}`, { agent, name, deleted: true });
    },
  },
];
