import { adminCommandWords, usageLines } from './cli/command-catalog';
import { UsageError } from './cli/command';
import { initOptions } from './cli/init-options';
import { isMode } from './runtime/modes';

// This module imports only what reads the command line. Each command loads
// its own modules when it runs, so help, usage errors and an unknown command
// cost no import of the product, the database drivers or the HTTP server
// (docs/decisions/2026-12-02-cli-start.md).

/** Runs the CLI; resolves to the process exit code. */
async function main(argv: readonly string[]): Promise<number> {
  const command = argv[0] ?? 'start';
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${usageLines.join('\n')}\n`);
    return 0;
  }
  if (command === 'openapi') {
    const { renderOpenApiDocument } = await import('./http/openapi-document');
    process.stdout.write(`${JSON.stringify(await renderOpenApiDocument(), null, 2)}\n`);
    return 0;
  }
  if (command === 'login-link') return (await import('./cli/login-link')).runLoginLink(argv.slice(1));
  if (command === 'chat') return (await import('./cli/run-chat')).runChat(argv.slice(1));
  if (adminCommandWords.some((words) => words.every((word, index) => argv[index] === word))) return (await import('./cli/run-admin')).runAdmin(argv);
  if (!isMode(command) && command !== 'migrate' && command !== 'init') {
    process.stderr.write(`data-machine: unknown command '${command}'. Try 'data-machine help'.\n`);
    return 2;
  }
  const owner = command === 'init' ? initOptions(argv.slice(1)) : undefined;
  if (owner instanceof UsageError) {
    process.stderr.write(`data-machine: ${owner.message}. Try 'data-machine help'.\n`);
    return 2;
  }
  return (await import('./cli/run-server')).runServer(command, owner);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  async (error: unknown) => {
    // One line for the operator, never a stack trace.
    const failure = await import('./cli/failure').then(
      ({ failureOf }) => failureOf(error),
      () => ({ line: `data-machine: unexpected failure: ${error instanceof Error ? error.message : String(error)}\n`, exitCode: 1 }),
    );
    process.stderr.write(failure.line);
    process.exitCode = failure.exitCode;
  },
);
