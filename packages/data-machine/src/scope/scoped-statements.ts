import { createHash } from 'node:crypto';
import { CompiledQuery } from 'kysely';
import type { DataMachineContext } from '../context';
import { keysStatement, type BatchKeys, type TransactionKeys, type TransactionOptions } from './tenant-transaction';

/** Each statement's rows, in order. */
export type StatementRows = ReadonlyArray<readonly unknown[]>;

/**
 * Runs SQL without parameters, one or more statements separated by
 * semicolons, in one round trip (the simple query protocol), as one
 * implicit transaction: all of it commits, or none. Resolves each
 * statement's rows, in order. The job engine provides one on its database
 * (`JobEngine.simpleQuery`).
 */
export type SimpleQuery = ((text: string) => Promise<StatementRows>) & {
  /**
   * Runs `work` on ONE session of the database, with the statements prepared
   * on that session, which a batch executes instead of planning them again:
   * PGlite's one session, or a connection of a pool held for the work.
   * Absent: every batch is planned anew.
   */
  readonly session?: <T>(work: (session: PreparedSession) => Promise<T>) => Promise<T>;
};

/** One session of the database and the statements prepared on it (see {@link SimpleQuery.session}). */
export interface PreparedSession {
  /** Runs parameterless SQL on this session, as {@link SimpleQuery} does. */
  readonly run: (text: string) => Promise<StatementRows>;
  /** Undefined when this session cannot keep prepared statements: every batch is inlined. */
  readonly prepared: PreparedStatements | undefined;
}

/**
 * Statements prepared once on ONE session of the database (PGlite's, or one
 * connection of a pool: each has its own), each named by a hash of its SQL,
 * so that a batch runs `execute name(values)` instead of planning the
 * statement again: planning is most of a short statement's cost
 * (docs/decisions/2026-12-01-engine-speed.md, "fourth pass" and "fifth pass").
 */
export interface PreparedStatements {
  /** The text that runs `query` in a batch: an EXECUTE once prepared (preparing it on first use), else its SQL with values inlined. */
  textOf(query: CompiledQuery): Promise<string>;
  /** Forgets every statement (the session lost them: `DEALLOCATE ALL`, `DISCARD ALL`), so the next use prepares again. */
  forget(): void;
}

/** Options of {@link createPreparedStatements}. */
export interface PreparedStatementsOptions {
  /** How many SQL texts it prepares at most; default 64. */
  readonly limit?: number;
  /**
   * After how many executions it discards the session's cached plans
   * (`DISCARD PLANS`), so each statement is planned again for the tables as
   * they have grown: a plan is made for the sizes it saw; default 1000.
   */
  readonly replanEvery?: number;
}

/**
 * {@link PreparedStatements} on `run`'s one session, preparing each SQL
 * text in a round trip of its own the first time (at most `limit` texts; the
 * rest, a DO block, and any the server cannot prepare are inlined as before).
 */
export function createPreparedStatements(run: (text: string) => Promise<unknown>, options: PreparedStatementsOptions = {}): PreparedStatements {
  const { limit = 64, replanEvery = 1000 } = options;
  const names = new Map<string, Promise<string | null>>();
  let executions = 0;
  const prepare = async (query: CompiledQuery): Promise<string | null> => {
    // The same SQL has the same name, on every engine sharing the session: "already exists" is that statement.
    const name = `dm_prepared_${createHash('sha256').update(query.sql).digest('hex').slice(0, 24)}`;
    // A parameter whose type the server cannot tell from its place is declared text: an inlined
    // literal there (unknown) resolves to text too (pg-boss's insert has two). Others stay unknown.
    const declared: string[] = query.parameters.map(() => 'unknown');
    for (;;) {
      const types = declared.every((type) => type === 'unknown') ? '' : `(${declared.join(', ')})`;
      try {
        await run(`prepare ${name}${types} as ${query.sql}`);
        return name;
      } catch (error) {
        const message = error instanceof Error ? error.message : '';
        if (/already exists/.test(message)) return name;
        const untyped = /could not determine data type of parameter \$(\d+)/.exec(message);
        const position = untyped === null ? -1 : Number(untyped[1]) - 1;
        if (declared[position] === 'unknown') {
          declared[position] = 'text';
          continue;
        }
        // Any other failure is tried again next time.
        names.delete(query.sql);
        return null;
      }
    }
  };
  return {
    async textOf(query) {
      // A DO block cannot be prepared (guardStatement no longer makes one; a caller's may).
      if (/^\s*do\s/i.test(query.sql)) return inlineParameters(query);
      let name = names.get(query.sql);
      if (name === undefined) {
        if (names.size >= limit) return inlineParameters(query);
        name = prepare(query);
        names.set(query.sql, name);
      }
      const prepared = await name;
      if (prepared === null) return inlineParameters(query);
      executions += 1;
      if (executions % replanEvery === 0) await run('discard plans');
      return query.parameters.length === 0 ? `execute ${prepared}` : `execute ${prepared}(${query.parameters.map(toLiteral).join(', ')})`;
    },
    forget: () => names.clear(),
  };
}

/**
 * Runs `statements` confined exactly as {@link inTransaction} confines a
 * transaction's (the same role and keys statement first), in ONE round trip:
 * the keys statement and the statements, their values inlined as escaped
 * literals, sent as one simple-protocol query, which Postgres and PGlite run
 * as one implicit transaction. Resolves the rows of each of `statements`.
 *
 * For a transaction whose every statement is known before the first runs
 * (no decision between them): a statement whose result decides what comes
 * next needs a real transaction. The one place of this trick; see
 * docs/decisions/2026-12-01-engine-speed.md, "one round trip".
 */
export async function runScoped(
  context: DataMachineContext,
  run: SimpleQuery,
  keys: TransactionKeys,
  statements: readonly CompiledQuery[],
  options: TransactionOptions = {},
): Promise<StatementRows> {
  return (await runScopedBatch(context, run, { keys, statements, options })).rows;
}

/** What {@link runScopedBatch} runs. */
export interface ScopedBatch {
  /**
   * Statements run first, as the connection's own role, before the role and
   * keys are set: only the engine's, on its own tables (pg-boss's fetch).
   */
  readonly leading?: readonly CompiledQuery[];
  /** The keys; the tenant may be SQL reading what `leading` did. */
  readonly keys: BatchKeys;
  readonly statements: readonly CompiledQuery[];
  readonly options?: TransactionOptions;
}

/**
 * {@link runScoped} with statements before the keys, in the same round trip
 * and implicit transaction. Resolves the rows of the leading statements and
 * of each of `statements`.
 */
export async function runScopedBatch(
  context: DataMachineContext,
  run: SimpleQuery,
  batch: ScopedBatch,
): Promise<{ readonly leading: StatementRows; readonly rows: StatementRows }> {
  const leading = batch.leading ?? [];
  const prelude = keysStatement(context.appRole, batch.keys, batch.options ?? {}).compile(context.db);
  const inlined = () => [...leading, prelude, ...batch.statements].map(inlineParameters).join(';\n');
  const runOn = async ({ run: runText, prepared }: PreparedSession): Promise<StatementRows> => {
    if (prepared === undefined) return runText(inlined());
    // One at a time: a statement prepared on first use is a query of its own on the session.
    const texts: string[] = [];
    for (const query of [...leading, prelude, ...batch.statements]) texts.push(query === prelude ? inlineParameters(prelude) : await prepared.textOf(query));
    return runText(texts.join(';\n')).catch((error: unknown) => {
      if (!(error instanceof Error && /prepared statement .* does not exist/.test(error.message))) throw error;
      // The session lost its prepared statements (nothing ran: the batch is one transaction): inline this once, prepare again next time.
      prepared.forget();
      return runText(inlined());
    });
  };
  const results = run.session === undefined ? await run(inlined()) : await run.session(runOn);
  const expected = leading.length + 1 + batch.statements.length;
  if (results.length !== expected) throw new Error(`A scoped batch of ${expected} statements returned ${results.length} results.`);
  return { leading: results.slice(0, leading.length), rows: results.slice(leading.length + 1) };
}

/**
 * A statement for a batch of {@link runScoped} that fails it (and so undoes
 * all of it) unless `query` returns a row: `dm_require(exists (query),
 * message)` (migration 0025), prepared like any other statement. A batch
 * cannot decide between statements; this is how a later statement is made
 * to depend on an earlier one. {@link isGuardFailure} tells its error.
 */
export function guardStatement(query: CompiledQuery, message: string): CompiledQuery {
  // The query's own `$n` stay; the message is one more parameter after them.
  return CompiledQuery.raw(`select dm_require(exists (${query.sql}), $${query.parameters.length + 1}::text) as required`, [...query.parameters, message]);
}

/** Whether `error` is the failure of a {@link guardStatement} raising `message`. */
export function isGuardFailure(error: unknown, message: string): boolean {
  return error instanceof Error && error.message === message;
}

/**
 * The statement's SQL with each `$n` replaced by its value as an escaped
 * literal of unknown type, as node-postgres sends a parameter (text, type
 * left to the server): the server resolves either the same way from its
 * context. `$n` inside quotes, quoted identifiers, dollar-quoted bodies and
 * comments is left alone.
 */
export function inlineParameters(query: CompiledQuery): string {
  const { sql: text, parameters } = query;
  // Copies the text in runs between the places that matter (a quote, a comment, a `$`) rather than
  // char by char: every statement of every batch goes through here (a start's is 2 kB).
  const notable = /['"$-]/g;
  let output = '';
  let copiedTo = 0;
  let index = 0;
  for (let match = notable.exec(text); match !== null; match = notable.exec(text)) {
    index = match.index;
    const skipTo = skipQuoted(text, index);
    if (skipTo > index) {
      notable.lastIndex = skipTo;
      continue;
    }
    const parameter = text[index] === '$' && !isIdentifierChar(text[index - 1]) ? matchAt(/\$(\d+)/y, text, index) : null;
    if (parameter === null) continue;
    const position = Number(parameter[1]);
    if (position < 1 || position > parameters.length) throw new RangeError(`The statement refers to $${position}, but has ${parameters.length} parameters.`);
    output += text.slice(copiedTo, index) + toLiteral(parameters[position - 1]);
    copiedTo = index + parameter[0].length;
    notable.lastIndex = copiedTo;
  }
  return output + text.slice(copiedTo);
}

/** `pattern` (sticky) matched exactly at `index`, or null. */
function matchAt(pattern: RegExp, text: string, index: number): RegExpExecArray | null {
  pattern.lastIndex = index;
  return pattern.exec(text);
}

/** Where a quoted string, quoted identifier, dollar-quoted body or comment starting at `index` ends (`index` when none starts there). */
function skipQuoted(text: string, index: number): number {
  const char = text[index];
  if (char === "'" || char === '"') {
    // A doubled quote inside is two quoted runs back to back: the loop resumes on the second.
    const end = text.indexOf(char, index + 1);
    return end === -1 ? text.length : end + 1;
  }
  if (char === '-' && text[index + 1] === '-') {
    const end = text.indexOf('\n', index);
    return end === -1 ? text.length : end + 1;
  }
  if (char === '$' && !isIdentifierChar(text[index - 1])) {
    const tag = matchAt(/\$[A-Za-z_][A-Za-z_0-9]*\$|\$\$/y, text, index)?.[0];
    if (tag === undefined) return index;
    const end = text.indexOf(tag, index + tag.length);
    return end === -1 ? text.length : end + tag.length;
  }
  return index;
}

function isIdentifierChar(char: string | undefined): boolean {
  return char !== undefined && /[A-Za-z0-9_$]/.test(char);
}

/** An array of strings or numbers as the text of a Postgres array (`{"a","b"}`): pg-boss passes its ids so. */
function arrayLiteral(values: readonly unknown[]): string {
  const elements = values.map((value) => {
    if (typeof value === 'number' || typeof value === 'bigint') return String(value);
    if (typeof value !== 'string') throw new TypeError(`A scoped batch cannot inline an array element of type ${Object.prototype.toString.call(value)}.`);
    return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  });
  return `{${elements.join(',')}}`;
}

/**
 * A value as a literal of unknown type: `E'...'` with backslashes and quotes
 * doubled, whatever `standard_conforming_strings` is. Only the value types
 * the engine's statements carry; anything else is a programming error.
 */
function toLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') text = String(value);
  else if (value instanceof Date) text = value.toISOString();
  else if (Array.isArray(value)) text = arrayLiteral(value);
  else throw new TypeError(`A scoped batch cannot inline a parameter of type ${Object.prototype.toString.call(value)}.`);
  // A text value cannot hold NUL; the extended protocol refuses it too.
  if (text.includes('\0')) throw new TypeError('A scoped batch cannot inline a string containing NUL.');
  return `E'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}
