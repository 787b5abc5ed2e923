import { AgentsApiError, memoryPathSchema, type MemoryStore } from '@data-machine/agents-api';
import { z } from 'zod';
import type { Action } from '../access/actions';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { parseInput } from '../input';
import type { Scope } from '../scope/scope';
import { agentOperation, type AgentRow } from '../scope/scoped-operation';

/**
 * The memory layers people edit through the product: an agent's own files
 * (`agent`: SOUL.md, MEMORY.md, ...) and its site rules (`site`: SITE.md,
 * RULES.md), both shared by every user of the agent. The `user` layer (each
 * user's USER.md) is that user's and is not edited here.
 */
export const agentMemoryLayers = ['agent', 'site'] as const;
export const agentMemoryLayerSchema = z.enum(agentMemoryLayers);
export type AgentMemoryLayer = (typeof agentMemoryLayers)[number];

/** A content hash as the memory store computes it: SHA-256, 64 lowercase hex digits. */
export const memoryContentHashSchema = z.string().regex(/^[0-9a-f]{64}$/, 'a content hash is 64 lowercase hex digits');

/** Names one memory file of an agent. */
export const agentMemoryFileRefSchema = z.object({ layer: agentMemoryLayerSchema, path: memoryPathSchema }).strict();
export type AgentMemoryFileRef = z.infer<typeof agentMemoryFileRefSchema>;

/**
 * What {@link writeAgentMemoryFile} takes. `ifMatch` is required: the hash the
 * writer read (replace exactly that version) or null (create a file that does
 * not exist yet), so a save never silently overwrites someone else's.
 */
export const agentMemoryWriteSchema = agentMemoryFileRefSchema.extend({ content: z.string(), ifMatch: memoryContentHashSchema.nullable() }).strict();
export type AgentMemoryWrite = z.input<typeof agentMemoryWriteSchema>;

/** What {@link deleteAgentMemoryFile} takes: `ifMatch`, when given, deletes only that version. */
export const agentMemoryDeleteSchema = agentMemoryFileRefSchema.extend({ ifMatch: memoryContentHashSchema.optional() }).strict();
export type AgentMemoryDelete = z.input<typeof agentMemoryDeleteSchema>;

/** One memory file in a listing, without its content. */
export interface AgentMemoryFileSummary {
  readonly layer: AgentMemoryLayer;
  readonly path: string;
  readonly bytes: number;
  readonly contentHash: string;
  readonly updatedAt: Date;
}

/** One memory file with its content. */
export interface AgentMemoryFile extends AgentMemoryFileSummary {
  readonly content: string;
}

/** What a write stored. */
export interface AgentMemoryWriteResult extends AgentMemoryFileSummary {
  /** Whether the file did not exist before. */
  readonly created: boolean;
}

/**
 * The agent's shared memory files (`agent.read`), layer by layer, each
 * ordered by path, from `memory` (the host's store: the one its runs read).
 */
export async function listAgentMemoryFiles(context: DataMachineContext, memory: MemoryStore, scope: Scope, agentRef: string): Promise<readonly AgentMemoryFileSummary[]> {
  const agent = await authorizedAgent(context, scope, 'agent.read', agentRef);
  const files: AgentMemoryFileSummary[] = [];
  for (const layer of agentMemoryLayers) {
    const entries = await memory.list({ layer, tenantId: scope.tenantId, agentSlug: agent.slug, userId: null });
    files.push(...entries.map((entry) => ({ layer, path: entry.path, bytes: entry.bytes, contentHash: entry.contentHash, updatedAt: entry.updatedAt })));
  }
  return files;
}

/** One of the agent's memory files with its content and hash (`agent.read`); `memory.not_found` when there is none. */
export async function readAgentMemoryFile(context: DataMachineContext, memory: MemoryStore, scope: Scope, agentRef: string, ref: AgentMemoryFileRef): Promise<AgentMemoryFile> {
  const file = parseInput(agentMemoryFileRefSchema, ref, 'memory file');
  const agent = await authorizedAgent(context, scope, 'agent.read', agentRef);
  const read = await memory.read(fileScope(scope, agent, file));
  if (!read.exists) throw memoryFileNotFound(agent, file);
  return { layer: file.layer, path: file.path, content: read.content, bytes: read.bytes, contentHash: read.contentHash, updatedAt: read.updatedAt };
}

/**
 * Creates or replaces one of the agent's memory files (`agent.edit`), only if
 * it is still the version `ifMatch` names: otherwise nothing is written and
 * the store's `memory.conflict` says which hash it found (`details.actual`,
 * null when the file is gone). Too large or NUL-bearing content is
 * `memory.invalid_content`.
 */
export async function writeAgentMemoryFile(context: DataMachineContext, memory: MemoryStore, scope: Scope, agentRef: string, input: AgentMemoryWrite): Promise<AgentMemoryWriteResult> {
  const fields = parseInput(agentMemoryWriteSchema, input, 'memory write');
  const agent = await authorizedAgent(context, scope, 'agent.edit', agentRef);
  const written = await memory.write(fileScope(scope, agent, fields), fields.content, { ifMatch: fields.ifMatch });
  return { layer: fields.layer, path: fields.path, bytes: written.bytes, contentHash: written.contentHash, updatedAt: written.updatedAt, created: written.created };
}

/**
 * Deletes one of the agent's memory files (`agent.edit`): `memory.not_found`
 * when there is none, `memory.conflict` when `ifMatch` is given and the file
 * is no longer that version (nothing is deleted then). The store has no
 * conditional delete, so the hash is compared just before deleting: a save
 * landing in between is lost, a window of one statement.
 */
export async function deleteAgentMemoryFile(context: DataMachineContext, memory: MemoryStore, scope: Scope, agentRef: string, input: AgentMemoryDelete): Promise<void> {
  const fields = parseInput(agentMemoryDeleteSchema, input, 'memory delete');
  const agent = await authorizedAgent(context, scope, 'agent.edit', agentRef);
  const target = fileScope(scope, agent, fields);
  if (fields.ifMatch !== undefined) {
    const current = await memory.read(target);
    if (!current.exists) throw memoryFileNotFound(agent, fields);
    if (current.contentHash !== fields.ifMatch) {
      throw new AgentsApiError('memory.conflict', `Memory file "${fields.path}" changed: expected hash ${fields.ifMatch}, found hash ${current.contentHash}; nothing was deleted.`, {
        details: { layer: fields.layer, path: fields.path, expected: fields.ifMatch, actual: current.contentHash },
      });
    }
  }
  if (!(await memory.delete(target))) throw memoryFileNotFound(agent, fields);
}

// The decision is taken in the product's tenant transaction; the store then
// runs on the host's own connection, after it: the plain role the transaction
// runs as may only read and delete the substrate's tables (migration 0007),
// and on the embedded database a second connection could not run inside it.
function authorizedAgent(context: DataMachineContext, scope: Scope, action: Action, agentRef: string): Promise<AgentRow> {
  return agentOperation(context, scope, action, agentRef, async (_trx, agent) => agent);
}

function fileScope(scope: Scope, agent: AgentRow, file: AgentMemoryFileRef) {
  return { layer: file.layer, tenantId: scope.tenantId, agentSlug: agent.slug, userId: null, path: file.path } as const;
}

function memoryFileNotFound(agent: AgentRow, file: AgentMemoryFileRef): DataMachineError {
  return new DataMachineError('memory.not_found', `Agent "${agent.slug}" has no ${file.layer} memory file "${file.path}".`, { details: { layer: file.layer, path: file.path } });
}
