import { AgentsApiError, memoryPathSchema, type MemoryScope, type MemoryStore } from '@data-machine/agents-api';
import { createPostgresMemoryStore } from '@data-machine/agents-api/postgres';
import { z } from 'zod';
import type { Action } from '../access/actions';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { parseInput } from '../input';
import type { Scope } from '../scope/scope';
import { agentOperation, type AgentRow } from '../scope/scoped-operation';
import type { TenantTransaction } from '../scope/tenant-transaction';
import { deleteMemoryFileIfHash, withSubstrateTables } from './agent-substrate-data';

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
 * ordered by path: the rows of the substrate's Postgres memory store (the
 * files the host's runs read), read in the transaction that decided.
 */
export async function listAgentMemoryFiles(context: DataMachineContext, scope: Scope, agentRef: string): Promise<readonly AgentMemoryFileSummary[]> {
  return memoryOperation(context, scope, 'agent.read', agentRef, async (memory, agent) => {
    const files: AgentMemoryFileSummary[] = [];
    for (const layer of agentMemoryLayers) {
      const entries = await memory.list({ layer, tenantId: scope.tenantId, agentSlug: agent.slug, userId: null });
      files.push(...entries.map((entry) => ({ layer, path: entry.path, bytes: entry.bytes, contentHash: entry.contentHash, updatedAt: entry.updatedAt })));
    }
    return files;
  });
}

/** One of the agent's memory files with its content and hash (`agent.read`); `memory.not_found` when there is none. */
export async function readAgentMemoryFile(context: DataMachineContext, scope: Scope, agentRef: string, ref: AgentMemoryFileRef): Promise<AgentMemoryFile> {
  const file = parseInput(agentMemoryFileRefSchema, ref, 'memory file');
  return memoryOperation(context, scope, 'agent.read', agentRef, async (memory, agent) => {
    const read = await memory.read(fileScope(scope, agent, file));
    if (!read.exists) throw memoryFileNotFound(agent, file);
    return { layer: file.layer, path: file.path, content: read.content, bytes: read.bytes, contentHash: read.contentHash, updatedAt: read.updatedAt };
  });
}

/**
 * Creates or replaces one of the agent's memory files (`agent.edit`), only if
 * it is still the version `ifMatch` names: otherwise nothing is written and
 * the store's `memory.conflict` says which hash it found (`details.actual`,
 * null when the file is gone). The comparison and the write are one
 * statement, in the transaction that decided, with the agent row held: a save
 * never lands after the agent's deletion or the editor's revocation. Too
 * large or NUL-bearing content is `memory.invalid_content`.
 */
export async function writeAgentMemoryFile(context: DataMachineContext, scope: Scope, agentRef: string, input: AgentMemoryWrite): Promise<AgentMemoryWriteResult> {
  const fields = parseInput(agentMemoryWriteSchema, input, 'memory write');
  return memoryOperation(context, scope, 'agent.edit', agentRef, async (memory, agent) => {
    const written = await memory.write(fileScope(scope, agent, fields), fields.content, { ifMatch: fields.ifMatch });
    return { layer: fields.layer, path: fields.path, bytes: written.bytes, contentHash: written.contentHash, updatedAt: written.updatedAt, created: written.created };
  });
}

/**
 * Deletes one of the agent's memory files (`agent.edit`): `memory.not_found`
 * when there is none, `memory.conflict` when `ifMatch` is given and the file
 * is no longer that version (nothing is deleted then; the comparison and the
 * deletion are one statement). Like a save, in the transaction that decided,
 * with the agent row held.
 */
export async function deleteAgentMemoryFile(context: DataMachineContext, scope: Scope, agentRef: string, input: AgentMemoryDelete): Promise<void> {
  const fields = parseInput(agentMemoryDeleteSchema, input, 'memory delete');
  await memoryOperation(context, scope, 'agent.edit', agentRef, async (memory, agent, trx) => {
    const target = fileScope(scope, agent, fields);
    if (fields.ifMatch === undefined) {
      if (!(await memory.delete(target))) throw memoryFileNotFound(agent, fields);
      return;
    }
    if (await deleteMemoryFileIfHash(trx, { tenantId: scope.tenantId, agentSlug: agent.slug, layer: fields.layer, path: fields.path }, fields.ifMatch)) return;
    const current = await memory.read(target);
    if (!current.exists) throw memoryFileNotFound(agent, fields);
    throw new AgentsApiError('memory.conflict', `Memory file "${fields.path}" changed: expected hash ${fields.ifMatch}, found hash ${current.contentHash}; nothing was deleted.`, {
      details: { layer: fields.layer, path: fields.path, expected: fields.ifMatch, actual: current.contentHash },
    });
  });
}

/**
 * Decides `action` on the agent in the product's tenant transaction and runs
 * `work` in it, over the substrate's Postgres memory store built on that
 * transaction: the files are read and written as the plain role, which
 * row-level security holds to the agents of the scope's tenant (migration
 * 0021). A change holds the agent row (`for key share`) until it commits, so
 * the agent's deletion, which clears its files by slug, either waits for it
 * and deletes what it wrote, or comes first and the change finds no agent.
 * See docs/decisions/2026-12-01-agent-editing.md.
 */
function memoryOperation<T>(
  context: DataMachineContext,
  scope: Scope,
  action: Action,
  agentRef: string,
  work: (memory: MemoryStore, agent: AgentRow, trx: TenantTransaction) => Promise<T>,
): Promise<T> {
  return agentOperation(
    context,
    scope,
    action,
    agentRef,
    (trx, agent) => work(createPostgresMemoryStore({ db: withSubstrateTables(trx), now: context.now }), agent, trx),
    { lockAgent: action !== 'agent.read' },
  );
}

function fileScope(scope: Scope, agent: AgentRow, file: AgentMemoryFileRef): MemoryScope {
  return { layer: file.layer, tenantId: scope.tenantId, agentSlug: agent.slug, userId: null, path: file.path };
}

function memoryFileNotFound(agent: AgentRow, file: AgentMemoryFileRef): DataMachineError {
  return new DataMachineError('memory.not_found', `Agent "${agent.slug}" has no ${file.layer} memory file "${file.path}".`, { details: { layer: file.layer, path: file.path } });
}
