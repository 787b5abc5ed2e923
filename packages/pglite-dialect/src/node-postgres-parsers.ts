import { types } from '@electric-sql/pglite';

/** PGlite's per-query value parsers: type OID to a function of the text value. */
export type ValueParsers = Record<number, (value: string, typeId: number) => unknown>;

/** Postgres type OIDs PGlite's `types` does not name. */
const INT8_ARRAY = 1016;
const BYTEA_ARRAY = 1001;

const identity = (value: string): string => value;
const bytea = (value: string): Buffer => Buffer.from(value.slice(2), 'hex');

/**
 * The parsers where PGlite's defaults differ from node-postgres's, set to
 * node-postgres's behaviour, so a row reads the same on both backends:
 * int8 stays a string (PGlite returns a number or a BigInt by size) and
 * bytea is a `Buffer` (PGlite returns a plain `Uint8Array`). Measured, not
 * assumed: `pglite-dialect.test.ts` compares the two on every type we use.
 */
export const nodePostgresParsers: ValueParsers = {
  [types.INT8]: identity,
  [INT8_ARRAY]: (value) => types.arrayParser(value, identity, INT8_ARRAY),
  [types.BYTEA]: bytea,
  [BYTEA_ARRAY]: (value) => types.arrayParser(value, bytea, BYTEA_ARRAY),
};
