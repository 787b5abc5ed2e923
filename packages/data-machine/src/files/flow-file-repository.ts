import { createHash } from 'node:crypto';
import type { Selectable } from 'kysely';
import { z } from 'zod';
import { actingUserId } from '../access/actor';
import type { DataMachineContext } from '../context';
import type { FlowFileTable } from '../database/data-machine-database';
import { DataMachineError } from '../errors';
import { parseInput } from '../input';
import { findAgentFlow } from '../jobs/agent-flow';
import type { Scope } from '../scope/scope';
import { agentOperation } from '../scope/scoped-operation';

// Operator-facing: uploading and deleting a flow's files authorize
// `queue.add` (feeding a flow its input, as its queues do); listing them,
// `agent.read`. A flow of another agent is `flow.not_found`, as a missing one.

/** The largest file accepted by default: 10 MiB. */
export const defaultFileMaxBytes = 10 * 1_048_576;

/** A file uploaded to a flow, as lists show it: never its content. */
export interface FlowFile {
  readonly id: string;
  readonly flowId: string;
  readonly name: string;
  readonly contentType: string;
  readonly size: number;
  /** Hex SHA-256 of the content, so a client can tell it uploaded the same bytes twice. */
  readonly sha256: string;
  readonly createdAt: Date;
}

/** What an upload names: a file name (no path) and a media type. */
export const fileUploadSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(255)
    .refine((value) => !/[\u0000-\u001f\u007f/\\]/.test(value) && value !== '.' && value !== '..', { message: 'a file name has no path separators nor control characters' }),
  contentType: z
    .string()
    .max(200)
    .regex(/^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/, 'a media type such as text/plain or application/pdf'),
});
export type FileUpload = z.infer<typeof fileUploadSchema>;

/** Options of {@link uploadFlowFile}. */
export interface FileUploadOptions {
  /** Larger files are `file.too_large`; default {@link defaultFileMaxBytes}. */
  readonly maxBytes?: number;
}

/**
 * Stores a file in the flow (`queue.add`), in the database: the flow's
 * `files` fetch yields it once. A name or media type that does not parse is
 * `input.invalid`, as is an empty file; a file over the cap `file.too_large`;
 * none writes anything.
 *
 * @example
 * await uploadFlowFile(context, scope, 'bot', 'inbox', { name: 'notes.txt', contentType: 'text/plain' }, Buffer.from('hello'));
 */
export async function uploadFlowFile(context: DataMachineContext, scope: Scope, agentRef: string, flowRef: string, upload: FileUpload, content: Uint8Array, options: FileUploadOptions = {}): Promise<FlowFile> {
  const file = parseInput(fileUploadSchema, upload, 'file');
  const maxBytes = options.maxBytes ?? defaultFileMaxBytes;
  // An empty upload is almost always a client that forgot the body; it would yield an item with nothing in it.
  if (content.byteLength === 0) throw new DataMachineError('input.invalid', 'A file must not be empty.', { details: { issues: [{ path: 'body', message: 'a file must not be empty' }] } });
  if (content.byteLength > maxBytes) throw new DataMachineError('file.too_large', `A file may be at most ${maxBytes} bytes.`, { details: { maxBytes, size: content.byteLength } });
  return agentOperation(context, scope, 'queue.add', agentRef, async (trx, agent) => {
    const flow = await findAgentFlow(trx, agent.id, flowRef);
    const row = await trx
      .insertInto('dm_flow_files')
      .values({
        id: context.newId('file'),
        tenant_id: flow.tenant_id,
        agent_id: flow.agent_id,
        flow_id: flow.id,
        name: file.name,
        content_type: file.contentType,
        size: content.byteLength,
        sha256: createHash('sha256').update(content).digest('hex'),
        content: Buffer.from(content.buffer, content.byteOffset, content.byteLength),
        created_by: actingUserId(scope.actor),
        created_at: context.now(),
      })
      .returning(['id', 'flow_id', 'name', 'content_type', 'size', 'sha256', 'created_at'])
      .executeTakeFirstOrThrow();
    return toFlowFile(row);
  });
}

/** The flow's files, oldest first (`agent.read`), without content. */
export function listFlowFiles(context: DataMachineContext, scope: Scope, agentRef: string, flowRef: string): Promise<readonly FlowFile[]> {
  return agentOperation(context, scope, 'agent.read', agentRef, async (trx, agent) => {
    const flow = await findAgentFlow(trx, agent.id, flowRef);
    const rows = await trx
      .selectFrom('dm_flow_files')
      .select(['id', 'flow_id', 'name', 'content_type', 'size', 'sha256', 'created_at'])
      .where('flow_id', '=', flow.id)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toFlowFile);
  });
}

/** Deletes a file of the flow (`queue.add`); `file.not_found` when the flow has no such file. A job that already holds its item keeps it. */
export function deleteFlowFile(context: DataMachineContext, scope: Scope, agentRef: string, flowRef: string, fileId: string): Promise<void> {
  return agentOperation(context, scope, 'queue.add', agentRef, async (trx, agent) => {
    const flow = await findAgentFlow(trx, agent.id, flowRef);
    const deleted = await trx.deleteFrom('dm_flow_files').where('flow_id', '=', flow.id).where('id', '=', fileId).executeTakeFirst();
    if (Number(deleted.numDeletedRows) === 0) throw new DataMachineError('file.not_found', `The flow "${flowRef}" has no file "${fileId}".`, { details: { flow: flowRef, file: fileId } });
  });
}

type FileRow = Pick<Selectable<FlowFileTable>, 'id' | 'flow_id' | 'name' | 'content_type' | 'size' | 'sha256' | 'created_at'>;

function toFlowFile(row: FileRow): FlowFile {
  return { id: row.id, flowId: row.flow_id, name: row.name, contentType: row.content_type, size: row.size, sha256: row.sha256, createdAt: row.created_at };
}
