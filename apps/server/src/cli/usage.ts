import { adminCommands } from './admin-commands';
import { chatUsage } from './chat-command';
import { loginLinkUsage } from './login-link';

/**
 * What `data-machine help` prints, rendered from the command tables. The
 * binary prints the copy in `command-catalog.ts` instead, so that help and
 * an unknown command cost no import of the product; `usage.test.ts` keeps the
 * copy equal to this (docs/decisions/2026-12-02-cli-start.md).
 */
export function renderUsage(): string {
  return `Usage: data-machine [start | serve | worker | scheduler | migrate | init | help]
  start      (the default) run migrations, then the HTTP API, the job workers and the
             scheduler in one process; on an empty embedded database it first creates
             a tenant and an owner and prints the owner's token
  serve      run migrations, then only the HTTP API (jobs run in worker processes)
  worker     run migrations, then only the job and outbox workers
  scheduler  run migrations, then only the scheduler (due flows, retention)
  migrate    run migrations and exit
  init       --email <address> [--name <display name>] [--tenant <slug>]
             run migrations, create the first tenant and its owner, print the owner's token
             and a console login link
  ${loginLinkUsage}
  openapi    print the OpenAPI document of the HTTP API (no database needed)
  Every mode stops gracefully on SIGTERM or SIGINT: no new requests nor jobs, in-flight
  ones finish (or their jobs are released), then the database is closed.
Administration (act as --as <email>, --as system or --token <token>; --json on every command):
${adminCommands.map((command) => `  ${command.usage}`).join('\n')}
Chat (streams to stdout; no --json):
  ${chatUsage}
Configuration: environment variables, listed in docs/operations.md.`;
}

/** The source of `command-catalog.ts`: the usage text and every administration command's words, as data. */
export function renderCommandCatalog(): string {
  const lines = renderUsage()
    .split('\n')
    .map((line) => `  ${JSON.stringify(line)},`);
  const words = adminCommands.map((command) => `  [${command.words.map((word) => JSON.stringify(word)).join(', ')}],`);
  return `// Rendered from the command tables by usage.test.ts; \`npx vitest run apps/server/src/cli/usage.test.ts -u\` rewrites it.
// The binary reads it to print help and to tell a command from a typo before it imports any command
// (docs/decisions/2026-12-02-cli-start.md).

/** What \`data-machine help\` prints, line by line. */
export const usageLines: readonly string[] = [
${lines.join('\n')}
];

/** The words that name each administration command, as \`findAdminCommand\` matches them. */
export const adminCommandWords: readonly (readonly string[])[] = [
${words.join('\n')}
];
`;
}
