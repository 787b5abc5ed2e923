import type { Expression, InsertQueryBuilder, InsertResult, QueryCreator, SqlBool } from 'kysely';
import type { DataMachineDatabase } from '../database/data-machine-database';

/**
 * A job's lines as one INSERT, built on a query creator (a transaction, or a
 * CTE's creator); with `onlyIf`, it inserts nothing unless that holds (a CTE
 * that must not outlive the move it rides on).
 */
export type JobLogsInsert = (creator: QueryCreator<DataMachineDatabase>, onlyIf?: Expression<SqlBool>) => InsertQueryBuilder<DataMachineDatabase, 'dm_job_logs', InsertResult>;
