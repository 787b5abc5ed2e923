import { DataMachineError, type DataMachineContext, type JobEngine, type SecretBox } from 'data-machine';
import { findAdminCommand, runAdminCommand, UsageError } from '../../src/cli/admin-commands';
import { HttpError } from '../../src/http/http-error';

/**
 * Runs administration commands in process on the context `context()` gives
 * (read at each call, so a suite may set it in `beforeAll`): `cli` resolves
 * to the output, `failure` to `usage: <message>` or the refusal's code.
 * `engine`, when given, is the job engine `flows run` and `jobs retry` use;
 * `secrets`, the box for a purpose that `flows webhook rotate` and `secrets set` seal with.
 * Standard input is empty unless given to `cliWithInput`.
 */
export function cliRunner(context: () => DataMachineContext, engine?: () => JobEngine, secrets?: (purpose: string) => SecretBox) {
  /** Runs a command whose standard input is `stdin`. */
  async function cliWithInput(stdin: string, ...argv: string[]): Promise<string> {
    const command = findAdminCommand(argv);
    if (!command) throw new Error(`no command for ${argv.join(' ')}`);
    return runAdminCommand(context(), command, argv, undefined, engine === undefined ? undefined : async () => engine(), secrets === undefined ? undefined : async (purpose) => secrets(purpose), async () => stdin);
  }
  async function cli(...argv: string[]): Promise<string> {
    return cliWithInput('', ...argv);
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
  return { cli, cliWithInput, failure };
}
