import { DataMachineError, type DataMachineContext, type JobEngine, type SecretBox } from 'data-machine';
import { findAdminCommand, runAdminCommand, UsageError } from '../../src/cli/admin-commands';
import { HttpError } from '../../src/http/http-error';

/**
 * Runs administration commands in process on the context `context()` gives
 * (read at each call, so a suite may set it in `beforeAll`): `cli` resolves
 * to the output, `failure` to `usage: <message>` or the refusal's code.
 * `engine`, when given, is the job engine `flows run` and `jobs retry` use;
 * `secrets`, the box `flows webhook rotate` seals with.
 */
export function cliRunner(context: () => DataMachineContext, engine?: () => JobEngine, secrets?: () => SecretBox) {
  async function cli(...argv: string[]): Promise<string> {
    const command = findAdminCommand(argv);
    if (!command) throw new Error(`no command for ${argv.join(' ')}`);
    return runAdminCommand(context(), command, argv, undefined, engine === undefined ? undefined : async () => engine(), secrets === undefined ? undefined : async () => secrets());
  }
  async function failure(...argv: string[]): Promise<string> {
    try {
      await cli(...argv);
    } catch (error) {
      if (error instanceof UsageError) return `usage: ${error.message}`;
      if (DataMachineError.isInstance(error) || error instanceof HttpError) return error.code;
      throw error;
    }
    throw new Error('expected the command to fail');
  }
  return { cli, failure };
}
