import { createPostgresMemoryStore, createPostgresTranscriptStore } from '@data-machine/agents-api/postgres';
import { configuredChatModel } from '../chat/chat-model-provider';
import { loadConfig } from '../config/config';
import { noModelLine, parseChatArgs, runChatCommand } from './chat-command';
import { UsageError } from './command';
import { withMigratedDatabase } from './configured-database';
import { createEnqueueOnlyJobEngine } from './enqueue-only-job-engine';

/** Runs `chat <agent>` on the configured database and model: stdin to the agent, its text to stdout; resolves to the exit code. */
export async function runChat(args: readonly string[]): Promise<number> {
  try {
    // A command line it cannot read is refused before the configuration is read or the database opened.
    parseChatArgs(args);
  } catch (error) {
    return usageFailure(error);
  }
  const config = loadConfig(process.env);
  const model = configuredChatModel(config.model);
  if (model === undefined) {
    // Before the database is opened: nothing to do without a model.
    process.stderr.write(noModelLine);
    return 1;
  }
  const stop = new AbortController();
  const interrupt = () => stop.abort();
  process.once('SIGINT', interrupt);
  try {
    return await withMigratedDatabase(config, (database, context) =>
      runChatCommand({
        context,
        model,
        store: createPostgresTranscriptStore({ db: database.db, now: () => context.now() }),
        memory: createPostgresMemoryStore({ db: database.db }),
        engine: createEnqueueOnlyJobEngine(database.engine),
        argv: args,
        stdin: process.stdin,
        stdout: process.stdout,
        stderr: process.stderr,
        signal: stop.signal,
      }),
    );
  } catch (error) {
    return usageFailure(error);
  } finally {
    process.off('SIGINT', interrupt);
  }
}

/** Exit 2 with one line for a {@link UsageError}; anything else is thrown on. */
function usageFailure(error: unknown): number {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`data-machine: ${error.message}\n`);
  return 2;
}
