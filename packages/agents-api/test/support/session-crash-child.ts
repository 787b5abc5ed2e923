/**
 * The child process of the session crash test: starts a run on the
 * Postgres database at `DATABASE_URL` whose `charge` tool prints `charged`
 * and then hangs, so the parent can SIGKILL it mid-run.
 * Run with `node --import tsx --conditions=@data-machine/source`.
 */
import { createRequire } from 'node:module';
import { Kysely, PostgresDialect, type PostgresPool } from 'kysely';
import { z } from 'zod';
import type { AgentsApiDatabase } from '../../src/database/agents-api-database';
import { createMessage } from '../../src/messages/message';
import { createOpenAIProvider } from '../../src/providers/openai-provider';
import { createToolLoopRunner } from '../../src/runner/tool-loop-runner';
import { createSessionRunner } from '../../src/sessions/session-runner';
import { defineTool } from '../../src/tools/define-tool';
import { createPostgresTranscriptStore } from '../../src/transcripts/postgres-transcript-store';
import { testPrincipal } from './principals';

// `pg` is the testkit's dependency, not this package's (the store takes any kysely):
// resolve it from there rather than adding a driver to the published package.
const requireFromTestkit = createRequire(import.meta.resolve('@data-machine/testkit'));
const { Pool } = requireFromTestkit('pg') as { Pool: new (config: { connectionString: string; max: number }) => PostgresPool };

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const db = new Kysely<AgentsApiDatabase>({ dialect: new PostgresDialect({ pool: new Pool({ connectionString: required('DATABASE_URL'), max: 2 }) }) });
const store = createPostgresTranscriptStore({ db });
const provider = createOpenAIProvider({ apiKey: 'test-key', baseURL: required('MODEL_BASE_URL'), model: 'test-model', maxRetries: 0 });
const charge = defineTool({
  name: 'charge',
  description: 'Charges the card once; never safe to repeat',
  input: z.object({ cents: z.number().int() }),
  writes: true,
  execute: async () => {
    process.stdout.write('charged\n');
    // Hang, holding the process open, until the parent kills it.
    setInterval(() => undefined, 60_000);
    return new Promise<string>(() => undefined);
  },
});
const sessions = createSessionRunner({
  store,
  createRunner: (persister) => createToolLoopRunner({ provider, persister }),
  lockTtlMs: Number(required('LOCK_TTL_MS')),
});
const principal = testPrincipal({ agentSlug: 'billing', tenantId: required('TENANT_ID') });
await sessions.start({
  owner: { userId: principal.userId, tenantId: required('TENANT_ID') },
  session: { id: required('SESSION_ID'), agentSlug: 'billing' },
  input: [createMessage({ type: 'text', role: 'user', content: 'Charge me $5', payload: {} })],
  principal,
  tools: [charge],
});
