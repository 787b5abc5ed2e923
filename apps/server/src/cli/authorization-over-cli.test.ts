import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeEachDatabase } from '@data-machine/testkit';
import {
  actions,
  createAgent,
  createDataMachineContext,
  createJobEngine,
  createTenant,
  resolveScope,
  type Action,
  type DataMachineContext,
  type DataMachineDatabase,
  type JobEngine,
} from 'data-machine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDefaultHandlers } from '../handlers/default-handlers';
import { digestPipeline } from '../../test/support/http-world';
import {
  createReplayWorld,
  decisionFor,
  endedJob,
  issueReplayToken,
  outcomeOf,
  pendingAction,
  replayPrincipals,
  type ReplayOutcome,
  type ReplayPrincipal,
  type ReplayWorld,
  unaccountedActions,
} from '../../test/support/authorization-world';
import { findAdminCommand } from './admin-commands';
import { runCommandLine, type CommandLineOutcome } from './command-line';

// The authorization matrix of the identity issue replayed through the CLI:
// every action through one representative command, run in process as the
// binary runs it, as users (`--as <email>`), agent tokens (`--token`) and the
// system (`--as system`). What each must end with is computed from the
// product's rules (`decide`): allowed is exit code 0, refused is exit code 1
// with one line naming why. An action without a command here (and not listed
// below with its reason) fails the test.

/** What a case runs with. */
interface CaseInput {
  readonly world: ReplayWorld;
  readonly n: number;
  readonly context: DataMachineContext;
  readonly database: Parameters<typeof endedJob>[1];
  /** A directory for files the case's command reads. */
  readonly directory: string;
}

/** One representative command of an action; `system` when the system principal, though allowed, gets another answer. */
interface CliCommand {
  readonly label: string;
  argv(input: CaseInput): Promise<readonly string[]> | readonly string[];
  readonly system?: { readonly exitCode: 1; readonly errorCode: string; readonly why: string };
}

const cliCommands: Readonly<Partial<Record<Action, readonly CliCommand[]>>> = {
  'agent.read': [{ label: 'agents show', argv: ({ world }) => ['agents', 'show', world.agent] }],
  'agent.create': [{ label: 'agents create', argv: ({ n }) => ['agents', 'create', '--slug', `own-${n}`, '--name', 'Own'] }],
  'agent.create_any': [{ label: 'templates install', argv: ({ n }) => ['templates', 'install', 'authz-cli-catalog/writer', '--slug', `installed-${n}`] }],
  'agent.grant': [{ label: 'agents grant', argv: ({ world }) => ['agents', 'grant', world.agent, '--user', world.bystander.email, '--role', 'viewer'] }],
  'token.create': [
    {
      label: 'agents token create',
      argv: ({ world }) => ['agents', 'token', 'create', world.agent, '--label', 'made', '--ceiling', 'chat'],
      system: { exitCode: 1, errorCode: 'input.invalid', why: 'a token acts as a user: the system principal cannot own one' },
    },
  ],
  'flow.create': [
    {
      label: 'pipelines import (a document of its own)',
      async argv({ world, n, directory }) {
        const file = path.join(directory, `pipeline-${n}.json`);
        await writeFile(file, JSON.stringify({ format: 'data-machine.pipeline', version: 1, pipeline: { ...digestPipeline, slug: `made-${n}` }, flows: [] }));
        return ['pipelines', 'import', world.agent, '--file', file];
      },
    },
  ],
  'flow.run': [{ label: 'flows run', argv: ({ world }) => ['flows', 'run', world.agent, world.flow] }],
  'queue.add': [{ label: 'flows queue add', argv: ({ world }) => ['flows', 'queue', 'add', world.agent, world.flow, 'think', '--prompt', 'Write.'] }],
  'approval.read': [{ label: 'approvals list --agent', argv: ({ world }) => ['approvals', 'list', '--agent', world.agent] }],
  'job.undo': [{ label: 'jobs undo (a fresh ended job)', argv: async ({ world, context, database }) => ['jobs', 'undo', world.agent, await endedJob(context, database, world)] }],
  'approval.resolve': [
    { label: 'approvals reject (a fresh pending action)', argv: async ({ world, n, context, database }) => ['approvals', 'reject', await pendingAction(context, database, world, `act_cli_${n}`)] },
  ],
  'logs.read': [
    { label: 'jobs list', argv: ({ world }) => ['jobs', 'list', world.agent] },
    { label: 'jobs effects (a fresh ended job)', argv: async ({ world, context, database }) => ['jobs', 'effects', world.agent, await endedJob(context, database, world)] },
  ],
  'tenant.manage': [
    { label: 'members add', argv: ({ world }) => ['members', 'add', '--user', world.bystander.email, '--role', 'subscriber'] },
    { label: 'tenants members', argv: () => ['tenants', 'members'] },
  ],
};

/** Actions no administration command does, and why. */
const withoutCommand: Readonly<Partial<Record<Action, string>>> = {
  'agent.edit': "the CLI does not change agents' settings: the HTTP API and the console do",
  'agent.delete': 'the CLI deletes no agents: the HTTP API and the console do',
  'chat': '`data-machine chat` needs a model and is authorized by the same agent principal as HTTP chat (its own suite)',
  'transcripts.read': "the CLI reads no other users' chat sessions",
  'tools.use': "decided for the agent's runs (the ceiling of its runtime principal), not for a command",
};

/** Actions whose command is merged beside this work: none (templates install is here as `agent.create_any`). */
const mappedAtMerge: Readonly<Partial<Record<Action, string>>> = {};

const describeOutcome = (principal: ReplayPrincipal, outcome: ReplayOutcome, command: CliCommand): string => {
  if (principal.kind === 'system' && command.system) return `exit 1 ${command.system.errorCode} (${command.system.why})`;
  if (outcome.kind === 'allowed') return 'exit 0';
  if (outcome.kind === 'unauthenticated') return `exit 1 ${outcome.code}`;
  return outcome.kind === 'denied' ? 'exit 1 access.denied' : 'exit 1 not found';
};

describe('the CLI replay of the authorization matrix', () => {
  it('maps every action to a command, or says why it has none', () => {
    expect(unaccountedActions(cliCommands, withoutCommand, mappedAtMerge)).toEqual([]);
  });
});

await describeEachDatabase<DataMachineDatabase>('authorization over the CLI', (database) => {
  let context: DataMachineContext;
  let engine: JobEngine;
  let world: ReplayWorld;
  let directory: string;
  const tokens = new Map<string, string>();
  let n = 0;

  // Building the world is some fifty writes: more than the default hook timeout on a busy machine.
  beforeAll(async () => {
    const { pglite, url } = database.database;
    engine = createJobEngine({ supervise: false, database: pglite !== undefined ? { pglite } : { connectionString: url as string, max: 2 } });
    await engine.start();
    context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
    world = await createReplayWorld(context, createDefaultHandlers(context), 'authz-cli');
    const system = { kind: 'system', channel: 'cli', reason: 'replay setup' } as const;
    const catalog = await createTenant(context, system, { slug: 'authz-cli-catalog', name: 'Catalog', isCatalog: true });
    await createAgent(context, await resolveScope(context, system, catalog.tenant.id), { slug: 'writer', name: 'Writer', ownerUserId: null });
    directory = await mkdtemp(path.join(tmpdir(), 'dm-authz-cli-'));
    // Issued before the cases run side by side: issuing the viewer's token raises the viewer for a moment.
    for (const principal of replayPrincipals) await actingOptions(principal);
  }, 120_000);
  afterAll(async () => {
    await engine.stop();
    await rm(directory, { recursive: true, force: true });
  });

  /** The options that say who acts. */
  async function actingOptions(principal: ReplayPrincipal): Promise<readonly string[]> {
    if (principal.kind === 'system') return ['--as', 'system'];
    if (principal.kind === 'user') return ['--as', world.users[principal.user].email];
    const cached = tokens.get(principal.name) ?? (await issueReplayToken(context, database, world, principal.token, world.agent));
    tokens.set(principal.name, cached);
    return ['--token', cached];
  }

  /** Runs `argv` as the binary does, with the suite's engine; the exit code, the error's code and what went to stderr. */
  async function run(argv: readonly string[]): Promise<{ outcome: CommandLineOutcome; stderr: string }> {
    const command = findAdminCommand(argv);
    if (!command) throw new Error(`no command for ${argv.join(' ')}`);
    let stderr = '';
    const outcome = await runCommandLine(context, command, argv, { stdout: { write: () => true }, stderr: { write: (text: string) => (stderr += text) } }, { engine: async () => engine });
    return { outcome, stderr };
  }

  for (const action of actions) {
    for (const command of cliCommands[action] ?? []) {
      // Each case is on resources of its own (or changes nothing a principal relies on): on Postgres they run side by side
      // (PGlite has one connection: side by side there is only slower).
      (database.backend === 'postgres' ? describe.concurrent : describe)(`${action}: ${command.label}`, () => {
        for (const principal of replayPrincipals) {
          const outcome = outcomeOf(decisionFor(principal, action, new Date()));
          it(`${principal.name}: ${describeOutcome(principal, outcome, command)}`, async ({ expect }) => {
            n += 1;
            const argv = [...(await command.argv({ world, n, context, database, directory })), '--tenant', world.tenant.slug, ...(await actingOptions(principal))];
            const { outcome: ended, stderr } = await run(argv);
            if (principal.kind === 'system' && command.system) {
              expect(ended).toEqual({ exitCode: command.system.exitCode, errorCode: command.system.errorCode });
            } else if (outcome.kind === 'allowed') {
              expect({ ended, stderr }).toEqual({ ended: { exitCode: 0 }, stderr: '' });
            } else {
              const errorCode = outcome.kind === 'denied' ? 'access.denied' : outcome.kind === 'hidden' ? expect.stringMatching(/\.not_found$/) : outcome.code;
              expect(ended).toEqual({ exitCode: 1, errorCode });
              expect(stderr).toMatch(/^data-machine: [^\n]+\n$/);
            }
          }, 30_000);
        }
      });
    }
  }
});
