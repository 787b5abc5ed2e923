import type { KyselyPlugin } from 'kysely';
import type { DataMachineContext } from '../../src/context';

/** How many statements and transactions went through a {@link countingContext}. */
export interface StatementCounts {
  statements: number;
  transactions: number;
}

/** `context` on the same database, counting the statements and transactions run through it (`BEGIN` and `COMMIT` are not statements here). */
export function countingContext<Context extends DataMachineContext>(context: Context): { readonly context: Context; readonly counts: StatementCounts } {
  const counts: StatementCounts = { statements: 0, transactions: 0 };
  const plugin: KyselyPlugin = {
    transformQuery: (args) => {
      counts.statements += 1;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  const db = context.db.withPlugin(plugin);
  const transaction = db.transaction.bind(db);
  db.transaction = () => {
    counts.transactions += 1;
    return transaction();
  };
  return { context: { ...context, db }, counts };
}
