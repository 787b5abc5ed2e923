import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createPostgresTranscriptStore } from '@data-machine/agents-api/postgres';
import { describeEachDatabase, startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { createDataMachineContext, engineQueues, type DataMachineContext, type DataMachineDatabase, type JobEngine } from 'data-machine';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, expect, it, vi } from 'vitest';
import { cliRunner } from '../../test/support/cli-runner';
import { digestPipeline } from '../../test/support/http-world';

type TranscriptDatabase = Parameters<typeof createPostgresTranscriptStore>[0]['db'];
import { createChatModelProvider, type ChatModel } from '../chat/chat-model-provider';
import { noModelLine, runChatCommand } from './chat-command';
import { createEnqueueOnlyJobEngine } from './enqueue-only-job-engine';

await describeEachDatabase<DataMachineDatabase>('chat command', (database) => {
  let context: DataMachineContext;
  let server: ModelServer;
  let model: ChatModel;
  const { cli } = cliRunner(() => context);
  const owner = ['--as', 'owner@chat-cli.test'] as const;

  /** Runs `chat` with `input` piped to its stdin; resolves to its exit code and what it wrote, the stdout writes one by one. */
  async function chat(input: string, argv: readonly string[], configured = true, engine?: JobEngine) {
    const writes: string[] = [];
    let stderr = '';
    const code = await runChatCommand({
      context,
      model: configured ? model : undefined,
      engine,
      // The server's database holds both packages' tables; the test suite types it as the product's.
      store: createPostgresTranscriptStore({ db: database.db as unknown as TranscriptDatabase, now: () => context.now() }),
      argv,
      stdin: Readable.from([input]),
      stdout: { write: (text: string) => writes.push(text) },
      stderr: { write: (text: string) => (stderr += text) },
    });
    return { code, writes, stdout: writes.join(''), stderr };
  }

  beforeAll(async () => {
    context = createDataMachineContext({ db: database.db, logger: { warn: () => undefined } });
    server = await startModelServer();
    model = createChatModelProvider({ baseUrl: server.baseURL, apiKey: 'test-key', defaultModel: 'test-model', maxRetries: 0 });
    await cli('users', 'create', '--email', 'owner@chat-cli.test', '--name', 'Owner', '--as', 'system');
    await cli('users', 'create', '--email', 'outsider@chat-cli.test', '--name', 'Outsider', '--as', 'system');
    await cli('tenants', 'create', '--slug', 'chat-cli-co', '--name', 'Chat Co', ...owner);
    await cli('tenants', 'create', '--slug', 'outside-co', '--name', 'Outside Co', '--as', 'outsider@chat-cli.test');
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.reset();
  });

  it('streams each turn read from stdin as its deltas arrive, one session for the conversation, and exits 0 at EOF', async () => {
    server.enqueue(textReply('Hello there, friend.'), textReply('Second answer.'));
    const result = await chat('hi\n\nand again\n', ['default', ...owner]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('Hello there, friend.\nSecond answer.\n');
    // Streamed: the first answer came in more than one write.
    expect(result.writes.indexOf('\n')).toBeGreaterThan(1);
    expect(result.stderr).toMatch(/^session (\S+) \(continue it with --session \1\)\n$/);
    const [first, second] = server.completionRequests();
    expect(first?.stream).toBe(true);
    expect(second?.messages.filter((message) => message.role === 'user').map((message) => message.content)).toEqual(['hi', 'and again']);
  });

  it('continues a stored session with --session', async () => {
    server.enqueue(textReply('One.'), textReply('Two.'));
    const sessionId = /^session (\S+)/.exec((await chat('first\n', ['default', ...owner])).stderr)?.[1] ?? '';
    const resumed = await chat('second\n', ['default', '--session', sessionId, ...owner]);
    expect(resumed).toMatchObject({ code: 0, stdout: 'Two.\n', stderr: '' });
    expect(server.completionRequests()[1]?.messages.filter((message) => message.role === 'user').map((message) => message.content)).toEqual(['first', 'second']);
  });

  it('offers the chat tools, run_flow too with a job engine, and names the pending action a run_flow call waits on', async () => {
    const { pglite, url } = database.database;
    // The engine `chat` runs with: never started, it enqueues on the suite's database; no worker takes the runs.
    const engine = createEnqueueOnlyJobEngine(pglite !== undefined ? { pglite } : { connectionString: url as string, max: 2 });
    const bossStart = vi.spyOn(engine.boss, 'start');
    const directory = await mkdtemp(path.join(tmpdir(), 'dm-chat-cli-'));
    try {
      const documentFile = path.join(directory, 'digest.json');
      await writeFile(documentFile, JSON.stringify({ format: 'data-machine.pipeline', version: 1, pipeline: digestPipeline, flows: [{ slug: 'daily', name: 'Daily' }] }));
      await cli('pipelines', 'import', 'default', '--file', documentFile, ...owner);
      server.enqueue(textReply('No tools needed.'), toolCallReply({ id: 'call_run', name: 'run_flow', arguments: { flow: 'daily' } }));
      await chat('hi\n', ['default', ...owner]);
      const held = await chat('run the daily flow\n', ['default', ...owner], true, engine);
      const offered = server.completionRequests().map((request) => (request.tools ?? []).map((tool) => (tool as { function: { name: string } }).function.name));
      expect(offered).toEqual([
        ['list_flows', 'get_job'],
        ['list_flows', 'get_job', 'run_flow'],
      ]);
      const listed = JSON.parse(await cli('approvals', 'list', '--status', 'pending', ...owner, '--json')) as { items: { id: string; toolName: string }[] };
      expect(listed.items).toEqual([expect.objectContaining({ toolName: 'run_flow' })]);
      const actionId = listed.items[0]!.id;
      expect(held.code).toBe(0);
      expect(held.stderr.split('\n').slice(1)).toEqual([
        '[tool run_flow]',
        `data-machine: waiting for approval of run_flow: Run flow "Daily" (daily) of agent "default" now. (data-machine approvals accept|reject ${actionId}; the next line continues after the decision)`,
        '',
      ]);
      // Accepted elsewhere, the session's next line runs the call as stored, then answers.
      await cliRunner(() => context, () => engine).cli('approvals', 'accept', actionId, ...owner);
      server.enqueue(textReply('Started.'));
      const sessionId = /^session (\S+)/.exec(held.stderr)?.[1] ?? '';
      expect(await chat('thanks\n', ['default', '--session', sessionId, ...owner], true, engine)).toMatchObject({ code: 0, stdout: 'Started.\n', stderr: '' });
      const jobs = JSON.parse(await cli('jobs', 'list', 'default', ...owner, '--json')) as { items: { id: string; source: string }[] };
      expect(jobs.items).toEqual([expect.objectContaining({ source: 'api' })]);
      // Enqueued for a worker elsewhere, though pg-boss never started in this conversation.
      const queued = await sql<{ name: string }>`select name from pgboss.job where data->>'jobId' = ${jobs.items[0]!.id}`.execute(database.db);
      expect(queued.rows).toEqual([{ name: engineQueues.job }]);
      expect(bossStart).not.toHaveBeenCalled();
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('prints one line and exits 1 without a model, reading nothing', async () => {
    expect(await chat('hi\n', ['default', ...owner], false)).toMatchObject({ code: 1, stdout: '', stderr: noModelLine });
    expect(noModelLine).toBe('data-machine: no model is configured (set OPENAI_BASE_URL or OPENAI_API_KEY)\n');
  });

  it('refuses a bad command line as usage, an agent the caller cannot see, and a session that is not theirs', async () => {
    await expect(chat('hi\n', ['default'])).rejects.toThrow(/act as someone/);
    await expect(chat('hi\n', [...owner])).rejects.toThrow(/^usage: data-machine chat <agent>/);
    await expect(chat('hi\n', ['default', '--model', 'x', ...owner])).rejects.toThrow(/Unknown option '--model'/);
    await expect(chat('hi\n', ['nope', ...owner])).rejects.toMatchObject({ code: 'agent.not_found' });
    await expect(chat('hi\n', ['default', '--session', 'ses_missing', ...owner])).rejects.toMatchObject({ code: 'session.not_found' });
    expect(server.completionRequests()).toHaveLength(0);
  });
});
