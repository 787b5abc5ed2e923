import { AgentsApiError } from '@data-machine/agents-api';
import { DataMachineError, type DataMachineContext, type HandlerRegistry, type JobEngine, type SecretBox } from 'data-machine';
import { HttpError } from '../http/http-error';
import { runAdminCommand } from './admin-commands';
import { terminalProgress, UsageError, type AdminCommand } from './command';

/** Where a command line writes: its result on `stdout`, refusals and progress on `stderr` (progress only when it is a terminal). */
export interface CommandLineStreams {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown; readonly isTTY?: boolean };
}

/** What a command line may need beyond its context; each defaults as in {@link runAdminCommand}. */
export interface CommandLineServices {
  readonly handlers?: HandlerRegistry;
  readonly engine?: () => Promise<JobEngine>;
  readonly secrets?: (purpose: string) => Promise<SecretBox>;
  readonly stdin?: () => Promise<string>;
  readonly pause?: (ms: number) => Promise<void>;
}

/** How a command line ended: exit code 0 (done), 1 (refused, with the typed error's code) or 2 (a command line it cannot read). */
export type CommandLineOutcome = { readonly exitCode: 0 } | { readonly exitCode: 1; readonly errorCode: string } | { readonly exitCode: 2 };

/**
 * Runs an administration command as `data-machine` does: its output on
 * stdout; a refusal or failure the product types (`access.denied`,
 * `agent.not_found`, `token.expired`, ...) as one line `data-machine:
 * <message>` on stderr and exit code 1; a usage error the same way with exit
 * code 2. Progress of long commands goes to stderr when it is a terminal.
 * Anything untyped is thrown: a bug, not an answer.
 */
export async function runCommandLine(
  context: DataMachineContext,
  command: AdminCommand,
  argv: readonly string[],
  streams: CommandLineStreams,
  services: CommandLineServices = {},
): Promise<CommandLineOutcome> {
  try {
    const output = await runAdminCommand(context, command, argv, services.handlers, services.engine, services.secrets, services.stdin, {
      progress: terminalProgress(streams.stderr),
      ...(services.pause === undefined ? {} : { pause: services.pause }),
    });
    streams.stdout.write(output);
    return { exitCode: 0 };
  } catch (error) {
    if (error instanceof UsageError) {
      streams.stderr.write(`data-machine: ${error.message}\n`);
      return { exitCode: 2 };
    }
    if (DataMachineError.isInstance(error) || AgentsApiError.isInstance(error) || error instanceof HttpError) {
      streams.stderr.write(`data-machine: ${error.message.split('\n')[0] ?? error.code}\n`);
      return { exitCode: 1, errorCode: error.code };
    }
    throw error;
  }
}
