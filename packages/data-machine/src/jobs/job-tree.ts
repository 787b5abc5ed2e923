import type { TenantTransaction } from '../scope/tenant-transaction';

/** `jobId` and every job under it (fan-out children, theirs), level by level. */
export async function jobTree(trx: TenantTransaction, jobId: string): Promise<string[]> {
  const jobIds = [jobId];
  for (let level = [jobId]; level.length > 0; ) {
    level = (await trx.selectFrom('dm_jobs').select('id').where('parent_job_id', 'in', level).execute()).map((row) => row.id);
    jobIds.push(...level);
  }
  return jobIds;
}

/** The jobs above `parentJobId` (a child job's fan-out parent, its parent), nearest first; empty for a top-level job. */
export async function jobAncestors(trx: TenantTransaction, parentJobId: string | null): Promise<string[]> {
  const ancestors: string[] = [];
  for (let parent = parentJobId; parent !== null; ) {
    ancestors.push(parent);
    const row = await trx.selectFrom('dm_jobs').select('parent_job_id').where('id', '=', parent).executeTakeFirst();
    parent = row?.parent_job_id ?? null;
  }
  return ancestors;
}
