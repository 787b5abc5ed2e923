export { PgliteDialect } from './pglite-dialect';
export type { PgliteClient, PgliteDialectOptions, PgliteQueryable, PgliteTransaction } from './pglite-dialect';
