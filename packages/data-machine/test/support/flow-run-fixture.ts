import type { DataMachineContext } from '../../src/context';
import { createFlow, type NewFlow } from '../../src/flows/flow-repository';
import { createPipeline } from '../../src/pipelines/pipeline-repository';
import type { PipelineStepInput } from '../../src/steps/step';
import { flowWorld, type FlowWorld } from './pipeline-fixture';

/** fetch (json_items) -> publish (records). */
export const fetchPublishSteps: readonly PipelineStepInput[] = [
  { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
  { key: 'store', type: 'publish', handler: 'records', config: { collection: 'out' } },
];

/** A flow world with one pipeline of `steps` and one flow on it. */
export interface RunWorld extends FlowWorld {
  readonly flowId: string;
  readonly tenantId: string;
}

/** A new tenant whose agent `bot` has a pipeline of `steps` and a flow with `flow` settings. */
export async function runWorld(
  context: DataMachineContext,
  slug: string,
  steps: readonly PipelineStepInput[] = fetchPublishSteps,
  flow: Partial<Omit<NewFlow, 'pipeline' | 'slug' | 'name'>> = {},
): Promise<RunWorld> {
  const world = await flowWorld(context, slug);
  await createPipeline(context, world.owner, world.handlers, 'bot', { slug: 'main', name: 'Main', steps });
  const created = await createFlow(context, world.owner, world.handlers, 'bot', { pipeline: 'main', slug: 'main', name: 'Main', ...flow });
  return { ...world, flowId: created.id, tenantId: world.tenant.id };
}

/** json_items configuration of the fetch step with items `ids`. */
export function itemsConfig(ids: readonly string[]) {
  return { fetch: { handlerConfig: { items: ids.map((id) => ({ id, title: `item ${id}` })) } } };
}
