import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startModelServer, textReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migratedDataDir, runCli } from './support/server-process';

/** As start.test.ts: each case spawns the built binary on an embedded database, whose start is the slow part on a shared machine. */
const deadline = 90_000;

describe('data-machine chat (the built binary, stdin piped)', () => {
  let model: ModelServer;
  let dataDir: string;

  beforeAll(async () => {
    model = await startModelServer();
    dataDir = await migratedDataDir();
    const init = await runCli(['init', '--email', 'chatter@example.test'], { DM_DATA_DIR: dataDir });
    expect(init.code).toBe(0);
  }, deadline);
  afterAll(async () => {
    await model.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers each piped line and exits 0 at the end of input', { timeout: deadline }, async () => {
    model.enqueue(textReply('First reply.'), textReply('Second reply.'));
    const environment = { DM_DATA_DIR: dataDir, OPENAI_BASE_URL: model.baseURL, OPENAI_API_KEY: 'test-key' };
    const chat = await runCli(['chat', 'default', '--as', 'chatter@example.test'], environment, 'hello\nhow are you\n');
    expect(chat).toMatchObject({ code: 0, stdout: 'First reply.\nSecond reply.\n' });
    expect(chat.stderr).toMatch(/^session \S+ \(continue it with --session \S+\)\n$/);
  });

  it('prints one line and exits 1 without a model', { timeout: deadline }, async () => {
    const chat = await runCli(['chat', 'default', '--as', 'chatter@example.test'], { DM_DATA_DIR: dataDir }, 'hello\n');
    expect(chat).toEqual({ code: 1, stdout: '', stderr: 'data-machine: no model is configured (set OPENAI_BASE_URL or OPENAI_API_KEY)\n' });
  });

  it('exits 2 on a command line it cannot read, before it opens a database', { timeout: deadline }, async () => {
    const untouched = join(tmpdir(), `dm-chat-usage-${process.pid}-${Date.now()}`);
    const chat = await runCli(['chat', '--as', 'chatter@example.test'], { DM_DATA_DIR: untouched, OPENAI_BASE_URL: model.baseURL });
    expect(chat.code).toBe(2);
    expect(chat.stderr).toMatch(/^data-machine: usage: data-machine chat <agent>/);
    expect(existsSync(untouched)).toBe(false);
  });
});
