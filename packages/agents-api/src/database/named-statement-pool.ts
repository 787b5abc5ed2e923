import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import { transcriptStoreCalls } from '../transcripts/postgres-transcript-store';

/** A query sent as a named (prepared) statement, as `pg`'s `client.query({ name, text, values })` takes it. */
export interface NamedQuery {
  readonly name: string;
  readonly text: string;
  readonly values: unknown[];
}

/**
 * What {@link withNamedStatements} needs of a pool: kysely's `PostgresPool`
 * whose clients also take a {@link NamedQuery} and remember, per connection,
 * which names they have parsed. `pg`'s `Pool` is one; taken structurally, so
 * this package does not depend on `pg`.
 */
export interface NamingPostgresPool {
  connect(): Promise<PostgresPoolClient & { query<R>(query: NamedQuery): Promise<PostgresQueryResult<R>> }>;
  end(): Promise<void>;
}

/** The statements named, by their text: the transcript store's open and append. */
const statementNames: ReadonlyMap<string, string> = new Map([
  [transcriptStoreCalls.openSession, 'agents_api_open_session_v1'],
  [transcriptStoreCalls.append, 'agents_api_append_messages_v1'],
]);

/**
 * `pool`, for kysely's `PostgresDialect`, sending the stores' hot calls (a
 * durable session's open and every append) as named statements: each
 * connection parses and describes one once, then only binds and executes it
 * (20 to 25 % of the call's Postgres CPU at low load). Every other query goes
 * through unchanged. Opt-in: a connection pooler that does not keep a
 * connection's prepared statements (PgBouncer in transaction mode before
 * 1.21) cannot take it.
 *
 * @example
 * const pool = new pg.Pool({ connectionString });
 * const db = new Kysely<AgentsApiDatabase>({ dialect: new PostgresDialect({ pool: withNamedStatements(pool) }) });
 */
export function withNamedStatements(pool: NamingPostgresPool): PostgresPool {
  // One wrapper per connection, kept as long as the connection: kysely keys its
  // connection state (and `onCreateConnection`) by the client object it is handed.
  const wrapped = new WeakMap<object, PostgresPoolClient>();
  return {
    async connect() {
      const client = await pool.connect();
      let naming = wrapped.get(client);
      if (naming === undefined) {
        naming = namingClient(client);
        wrapped.set(client, naming);
      }
      return naming;
    },
    end: () => pool.end(),
  };
}

function namingClient(client: Awaited<ReturnType<NamingPostgresPool['connect']>>): PostgresPoolClient {
  const query = (textOrCursor: unknown, parameters?: ReadonlyArray<unknown>): unknown => {
    // A cursor (kysely's `streamQuery`) is passed on as it is.
    if (typeof textOrCursor !== 'string') return client.query(textOrCursor as Parameters<PostgresPoolClient['query']>[0] as never);
    const name = statementNames.get(textOrCursor);
    return name === undefined ? client.query(textOrCursor, parameters ?? []) : client.query({ name, text: textOrCursor, values: [...(parameters ?? [])] });
  };
  // `query` implements both of kysely's overloads (a text with its parameters, or a cursor).
  return { query, release: () => client.release() } as PostgresPoolClient;
}
