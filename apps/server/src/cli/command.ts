import type { DataMachineContext, HandlerRegistry, JobEngine, Scope, SecretBox } from 'data-machine';
import type { Acting } from '../http/authentication';

/**
 * What a command printed: rows for a table (or `--json`: `value` when given,
 * else the rows, with an optional `footer` line under the table), or one line
 * with the value behind it.
 */
export type CommandResult =
  | {
      readonly kind: 'rows';
      readonly columns: readonly string[];
      readonly rows: readonly Readonly<Record<string, unknown>>[];
      readonly footer?: string;
      readonly value?: unknown;
    }
  | { readonly kind: 'done'; readonly line: string; readonly value: unknown };

/** A command line the CLI cannot read; exit code 2. */
export class UsageError extends Error {}

/** Parsed options of a command line. */
export type Values = Readonly<Record<string, string | boolean | undefined>>;

/** What a command runs with. */
export interface CommandInput {
  readonly context: DataMachineContext;
  /** The handlers pipelines and flows are validated against. */
  readonly handlers: HandlerRegistry;
  readonly acting: Acting;
  readonly values: Values;
  readonly positionals: readonly string[];
  /** The scope of the tenant named by `--tenant` (or the user's only tenant). */
  scope(): Promise<Scope>;
  /** The job engine runs are enqueued on, started on first use; `engine.unavailable` where the CLI has none. */
  engine(): Promise<JobEngine>;
  /** A box sealing with the server's `SECRET_KEY` (resolved on first use) for `purpose`. */
  secrets(purpose: string): Promise<SecretBox>;
  /** All of standard input as text (what `secrets set` stores when no file is named). */
  stdin(): Promise<string>;
  /** A reporter of how far a long command has got (`label: done/total unit`); silent unless standard error is a terminal, and with `--json`. */
  progress(label: string, unit: string): ProgressReporter;
  /** Waits `ms` between two looks at work done elsewhere (a worker's undo). */
  pause(ms: number): Promise<void>;
}

/** Reports that `done` of `total` are done. */
export type ProgressReporter = (done: number, total: number) => void;

/** Where progress is shown: a reporter per long operation. */
export type ProgressDisplay = (label: string, unit: string) => ProgressReporter;

/** Shows no progress: output that is not a terminal, and `--json`. */
export const noProgress: ProgressDisplay = () => () => undefined;

/**
 * Progress on `stream` when it is a terminal: one line redrawn in place
 * (`undo: 40/120 effects`), ended once all are done; nothing otherwise, so
 * piped and logged output stays what the command prints.
 */
export function terminalProgress(stream: { write(text: string): unknown; readonly isTTY?: boolean }): ProgressDisplay {
  if (stream.isTTY !== true) return noProgress;
  return (label, unit) => (done, total) => {
    stream.write(`\r\u001b[K${label}: ${done}/${total} ${unit}${done >= total ? '\n' : ''}`);
  };
}

/** One CLI command: the words that name it, its options and how many positionals it takes. */
export interface AdminCommand {
  readonly words: readonly string[];
  readonly usage: string;
  readonly options: Readonly<Record<string, { readonly type: 'string' | 'boolean' }>>;
  readonly positionals: number;
  run(input: CommandInput): Promise<CommandResult>;
}

/** A string option. */
export const text = { type: 'string' } as const;

/** An option that must be one of `schema`'s values. */
export function oneOf<T extends string>(values: Values, name: string, schema: { options: readonly T[] }): T {
  const value = required(values, name);
  const match = schema.options.find((option) => option === value);
  if (match === undefined) throw new UsageError(`--${name} must be one of ${schema.options.join(', ')} (got "${value}")`);
  return match;
}

/** An option that must be given. */
export function required(values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

/** An option that may be left out. */
export function optional(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A command that did one thing: its line, and the value `--json` prints. */
export const done = (line: string, value: unknown): CommandResult => ({ kind: 'done', line, value });

/** A date as the CLI prints it. */
export const iso = (date: Date | null): string | null => (date === null ? null : date.toISOString());
