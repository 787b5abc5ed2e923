import { AgentsApiError } from '@data-machine/agents-api';
import { DataMachineError } from 'data-machine';
import { ConfigError } from '../config/config';
import { DataDirectoryInUseError } from '../database/data-directory-lock';
import { HttpError } from '../http/http-error';

/** A failure to start that the operator can act on; printed as one line. */
export class StartupError extends Error {}

/** How the binary reports an error a command threw: one line (never a stack trace) and its exit code. */
export interface Failure {
  readonly line: string;
  /** 2 for a bad configuration value, 1 for anything else. */
  readonly exitCode: 1 | 2;
}

/**
 * The failure line of `error`: the message of a typed error the operator can
 * act on (configuration, start-up, HTTP, the packages' coded errors), else
 * `unexpected failure: <message>`. The entry point loads this module only
 * once a command has failed, by when the command has loaded what it imports.
 */
export function failureOf(error: unknown): Failure {
  const known = error instanceof ConfigError || error instanceof StartupError || error instanceof DataDirectoryInUseError || error instanceof HttpError || AgentsApiError.isInstance(error) || DataMachineError.isInstance(error);
  const message = known ? (error as Error).message : `unexpected failure: ${error instanceof Error ? error.message : String(error)}`;
  return { line: `data-machine: ${message}\n`, exitCode: error instanceof ConfigError ? 2 : 1 };
}
