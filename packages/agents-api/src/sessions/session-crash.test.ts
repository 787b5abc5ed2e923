import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, probePostgres, startModelServer, textReply, toolCallReply, type ModelServer, type TestDatabase } from '@data-machine/testkit';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { testPrincipal } from '../../test/support/principals';
import type { AgentsApiDatabase } from '../database/agents-api-database';
import { migrateAgentsApi } from '../database/agents-api-migrations';
import { AgentsApiError } from '../errors';
import { createOpenAIProvider } from '../providers/openai-provider';
import { createToolLoopRunner } from '../runner/tool-loop-runner';
import { defineTool } from '../tools/define-tool';
import { createPostgresTranscriptStore } from '../transcripts/postgres-transcript-store';
import { createSessionRunner } from './session-runner';
import type { SessionRunResult } from './session-request';

// A real crash needs a second process, and so a database it can reach: Postgres only
// (PGlite lives inside one process). Skipped when Postgres is unreachable outside CI.
const reachable = await probePostgres();
const childScript = fileURLToPath(new URL('../../test/support/session-crash-child.ts', import.meta.url));
const packageRoot = fileURLToPath(new URL('../..', import.meta.url));
const leaseMs = 2000;

describe.skipIf(!reachable)('session runner after a SIGKILL [postgres]', () => {
  let database: TestDatabase;
  let server: ModelServer;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    await migrateAgentsApi(database.db);
    server = await startModelServer();
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await database?.destroy();
  });

  it('resumes from another process within about one lease, running the side-effecting tool at most once', async () => {
    const tenantId = `crash-${randomUUID()}`;
    const principal = testPrincipal({ agentSlug: 'billing', tenantId });
    const owner = { userId: principal.userId, tenantId };
    const sessionId = `ses-${randomUUID()}`;
    server.enqueue(toolCallReply({ name: 'charge', arguments: { cents: 500 } }));
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=@data-machine/source', childScript], {
      cwd: packageRoot,
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: database.url ?? '',
        MODEL_BASE_URL: server.baseURL,
        SESSION_ID: sessionId,
        TENANT_ID: owner.tenantId,
        LOCK_TTL_MS: String(leaseMs),
      },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_, signal) => resolve(signal)));
    await waitFor(() => output.includes('charged'), 60_000, () => `the child never charged; it wrote: ${output}`);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    // The dead run's lease is still on the session: resuming is refused until it lapses.
    let parentCharges = 0;
    const charge = defineTool({
      name: 'charge',
      description: 'Charges the card once; never safe to repeat',
      input: z.object({ cents: z.number().int() }),
      writes: true,
      execute: () => {
        parentCharges += 1;
        return 'charged';
      },
    });
    const db = database.db as Kysely<AgentsApiDatabase>;
    const store = createPostgresTranscriptStore({ db });
    const provider = createOpenAIProvider({ apiKey: 'test-key', baseURL: server.baseURL, model: 'test-model', maxRetries: 0 });
    const sessions = createSessionRunner({ store, createRunner: (persister) => createToolLoopRunner({ provider, persister }), lockTtlMs: leaseMs });
    server.enqueue(textReply('The charge may have gone through; please check before retrying.'));
    let resumed: SessionRunResult | undefined;
    // Deadline: a few lease periods, for a busy machine; the lease itself frees the session after one.
    await waitFor(
      async () => {
        try {
          resumed = await sessions.resume({ owner, sessionId, principal, tools: [charge] });
          return true;
        } catch (error) {
          if (AgentsApiError.isInstance(error) && error.code === 'transcript.session_locked') return false;
          throw error;
        }
      },
      leaseMs * 5,
      () => 'the session stayed locked for five lease periods after the crash',
    );
    expect(resumed?.result.status).toBe('completed');
    expect(parentCharges).toBe(0);
    const stored = (await store.loadMessages(owner, sessionId)).map((entry) => entry.message);
    expect(stored.map((message) => message.type)).toEqual(['text', 'tool_call', 'tool_result', 'text']);
    expect(stored[2]).toMatchObject({ payload: { toolName: 'charge', isError: true } });
  }, 120_000);
});

async function waitFor(condition: () => boolean | Promise<boolean>, deadlineMs: number, describeFailure: () => string): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(describeFailure());
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

