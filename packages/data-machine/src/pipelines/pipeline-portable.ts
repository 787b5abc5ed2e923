import { z } from 'zod';
import { actingUserId } from '../access/actor';
import type { DataMachineContext } from '../context';
import { DataMachineError } from '../errors';
import { checkFlowStepConfig } from '../flows/flow-step-config';
import { flowLimits, insertFlow, mapFlowWriteError, toFlow, type Flow } from '../flows/flow-repository';
import type { HandlerRegistry } from '../handlers/handler-registry';
import { nameSchema, parseInput, slugSchema } from '../input';
import { manualSchedule, scheduleSchema } from '../schedules/schedule';
import type { Scope } from '../scope/scope';
import { agentOperation } from '../scope/scoped-operation';
import type { TenantTransaction } from '../scope/tenant-transaction';
import { insertPipeline, mapPipelineWriteError, requirePipeline, toPipeline, type Pipeline } from './pipeline-repository';
import { checkPipelineSteps } from './pipeline-steps';

/** The `format` of a portable pipeline document. */
export const portablePipelineFormat = 'data-machine.pipeline';
/** The version of the document this package writes and reads. */
export const portablePipelineVersion = 1;
/** The most flows one document may carry. */
export const maxPortableFlows = 200;

const portableFlowSchema = z.strictObject({
  slug: slugSchema,
  name: nameSchema,
  stepConfig: z.unknown().optional(),
  schedule: scheduleSchema.default(manualSchedule),
  paused: z.boolean().default(false),
  maxItems: z.int().min(1).max(flowLimits.maxItems).default(1),
  concurrency: z.int().min(1).max(flowLimits.concurrency).default(1),
});

/**
 * A pipeline with its flows as portable JSON: slugs, no ids, no tenant, no
 * timestamps, and a format version. Steps and step configurations are
 * checked on import against the importing host's handlers.
 */
export const portablePipelineSchema = z
  .strictObject({
    format: z.literal(portablePipelineFormat),
    version: z.literal(portablePipelineVersion),
    pipeline: z.strictObject({ slug: slugSchema, name: nameSchema, steps: z.array(z.unknown()) }),
    flows: z.array(portableFlowSchema).max(maxPortableFlows).default([]),
  })
  .superRefine((document, issues) => {
    const seen = new Set<string>();
    document.flows.forEach((flow, index) => {
      if (seen.has(flow.slug)) issues.addIssue({ code: 'custom', path: ['flows', index, 'slug'], message: `the slug "${flow.slug}" is used by an earlier flow` });
      seen.add(flow.slug);
    });
  });
/** A portable pipeline document as read. */
export type PortablePipeline = z.infer<typeof portablePipelineSchema>;

/** What an import does when a slug is taken: refuse (`pipeline.slug_taken` / `flow.slug_taken`, nothing written) or take the next free `slug-2`, `slug-3`... */
export const importConflictSchema = z.enum(['fail', 'rename']);
export type ImportConflict = z.infer<typeof importConflictSchema>;

/** What {@link importPipeline} created. */
export interface ImportedPipeline {
  readonly pipeline: Pipeline;
  readonly flows: readonly Flow[];
}

/** The pipeline `pipelineRef` of the agent and its flows as a portable document (`agent.read`). */
export function exportPipeline(context: DataMachineContext, scope: Scope, agentRef: string, pipelineRef: string): Promise<PortablePipeline> {
  return agentOperation(context, scope, 'agent.read', agentRef, async (trx, agent) => {
    const pipeline = toPipeline(await requirePipeline(trx, agent.id, pipelineRef));
    const rows = await trx.selectFrom('dm_flows').selectAll().where('pipeline_id', '=', pipeline.id).orderBy('slug').execute();
    return {
      format: portablePipelineFormat,
      version: portablePipelineVersion,
      pipeline: { slug: pipeline.slug, name: pipeline.name, steps: [...pipeline.steps] },
      flows: rows.map(toFlow).map((flow) => ({
        slug: flow.slug,
        name: flow.name,
        stepConfig: flow.stepConfig,
        schedule: flow.schedule,
        paused: flow.paused,
        maxItems: flow.maxItems,
        concurrency: flow.concurrency,
      })),
    };
  });
}

/**
 * Imports a portable document into the agent `agentRef` (`flow.create`), in
 * one transaction: the document (`input.invalid`), its steps
 * (`pipeline.invalid_steps`) and every flow's configuration
 * (`flow.invalid_config`) are checked before anything is written. A taken slug
 * is refused unless `onConflict: 'rename'`. Flows keep their `paused` flag.
 */
export async function importPipeline(
  context: DataMachineContext,
  scope: Scope,
  handlers: HandlerRegistry,
  agentRef: string,
  document: unknown,
  options: {
    readonly onConflict?: ImportConflict;
    /** Told after each flow is written (in the import's transaction, committed at its end): how many of how many. */
    readonly onProgress?: (written: number, total: number) => void;
  } = {},
): Promise<ImportedPipeline> {
  const parsed = parseInput(portablePipelineSchema, document, 'pipeline document');
  const onConflict = parseInput(importConflictSchema.default('fail'), options.onConflict, 'conflict option');
  const steps = checkPipelineSteps(parsed.pipeline.steps, handlers);
  const flows = parsed.flows.map((flow) => ({ ...flow, stepConfig: checkFlowStepConfig(flow.stepConfig, steps, handlers, flow.slug) }));
  let slug = parsed.pipeline.slug;
  try {
    return await agentOperation(context, scope, 'flow.create', agentRef, async (trx, agent) => {
      const taken = await takenSlugs(trx, agent.id);
      slug = chooseSlug(parsed.pipeline.slug, taken.pipelines, onConflict, 'pipeline');
      const base = { tenantId: scope.tenantId, agentId: agent.id, createdBy: actingUserId(scope.actor) };
      const pipeline = await insertPipeline(context, trx, { ...base, slug, name: parsed.pipeline.name, steps });
      const created: Flow[] = [];
      for (const flow of flows) {
        const flowSlug = chooseSlug(flow.slug, taken.flows, onConflict, 'flow');
        taken.flows.add(flowSlug);
        created.push(await insertFlow(context, trx, { ...base, ...flow, slug: flowSlug, pipelineId: pipeline.id }));
        options.onProgress?.(created.length, flows.length);
      }
      return { pipeline, flows: created };
    });
  } catch (error) {
    // A concurrent write may take a slug after the check: the constraint still answers with the typed error.
    const mapped = mapPipelineWriteError(error, slug);
    throw mapped === error ? mapFlowWriteError(error, '(imported flow)') : mapped;
  }
}

async function takenSlugs(trx: TenantTransaction, agentId: string): Promise<{ pipelines: Set<string>; flows: Set<string> }> {
  const [pipelines, flows] = await Promise.all([
    trx.selectFrom('dm_pipelines').select('slug').where('agent_id', '=', agentId).execute(),
    trx.selectFrom('dm_flows').select('slug').where('agent_id', '=', agentId).execute(),
  ]);
  return { pipelines: new Set(pipelines.map((row) => row.slug)), flows: new Set(flows.map((row) => row.slug)) };
}

/** `slug` when free; else the first free `slug-N` (shortened to stay a slug) when renaming, or the typed refusal. */
function chooseSlug(slug: string, taken: ReadonlySet<string>, onConflict: ImportConflict, what: 'pipeline' | 'flow'): string {
  if (!taken.has(slug)) return slug;
  if (onConflict === 'fail') {
    throw new DataMachineError(`${what}.slug_taken`, `This agent has a ${what} with the slug "${slug}".`, { details: { slug } });
  }
  for (let suffix = 2; ; suffix += 1) {
    const tail = `-${suffix}`;
    const candidate = `${slug.slice(0, 64 - tail.length).replace(/-+$/, '')}${tail}`;
    if (!taken.has(candidate)) return candidate;
  }
}
