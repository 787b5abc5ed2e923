import { createSecretBox, type JobEngine } from 'data-machine';
import { loadConfig } from '../config/config';
import { resolveSecretKey } from '../config/secret-key';
import { createDefaultHandlers } from '../handlers/default-handlers';
import { findAdminCommand, readCommandLine, UsageError } from './admin-commands';
import { runCommandLine } from './command-line';
import { withMigratedDatabase } from './configured-database';
import { createEnqueueOnlyJobEngine } from './enqueue-only-job-engine';

/**
 * Runs the administration command `argv` names on the configured database,
 * which must be migrated. A command line it cannot read is exit code 2
 * before the configuration is read or the database opened; refusals are one
 * line on stderr and exit code 1; progress shows only at a terminal.
 */
export async function runAdmin(argv: readonly string[]): Promise<number> {
  const command = findAdminCommand(argv);
  if (command === undefined) throw new Error(`no administration command is named by ${argv.join(' ')}`);
  try {
    readCommandLine(command, argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`data-machine: ${error.message}\n`);
    return 2;
  }
  const config = loadConfig(process.env);
  return withMigratedDatabase(config, async (database, context) => {
    // `flows run`, `jobs retry`, `jobs undo` and the approval decisions only enqueue: an engine that is never started.
    let engine: JobEngine | undefined;
    const enqueueOnly = async () => (engine ??= createEnqueueOnlyJobEngine(database.engine));
    // Only `flows webhook rotate` and `secrets set` need the server key: resolved (on the embedded database, generated) on first use.
    const secrets = async (purpose: string) => createSecretBox(await resolveSecretKey(config.secretKey), purpose);
    return (await runCommandLine(context, command, argv, process, { handlers: createDefaultHandlers(context), engine: enqueueOnly, secrets })).exitCode;
  });
}
