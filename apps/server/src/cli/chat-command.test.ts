import { Readable } from 'node:stream';
import { createPostgresTranscriptStore } from '@data-machine/agents-api/postgres';
import { describeEachDatabase, startModelServer, textReply, type ModelServer } from '@data-machine/testkit';
import { createDataMachineContext, type DataMachineContext, type DataMachineDatabase } from 'data-machine';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { cliRunner } from '../../test/support/cli-runner';

type TranscriptDatabase = Parameters<typeof createPostgresTranscriptStore>[0]['db'];
import { createChatModelProvider, type ChatModel } from '../chat/chat-model-provider';
import { noModelLine, runChatCommand } from './chat-command';

await describeEachDatabase<DataMachineDatabase>('chat command', (database) => {
  let context: DataMachineContext;
  let server: ModelServer;
  let model: ChatModel;
  const { cli } = cliRunner(() => context);
  const owner = ['--as', 'owner@chat-cli.test'] as const;

  /** Runs `chat` with `input` piped to its stdin; resolves to its exit code and what it wrote, the stdout writes one by one. */
  async function chat(input: string, argv: readonly string[], configured = true) {
    const writes: string[] = [];
    let stderr = '';
    const code = await runChatCommand({
      context,
      model: configured ? model : undefined,
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
