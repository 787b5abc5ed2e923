import { createInMemoryMemoryStore, type ModelProvider, type TranscriptStore } from '@data-machine/agents-api';
import { createOpenAIProvider } from '@data-machine/agents-api/openai';
import { createPostgresTranscriptStore } from '@data-machine/agents-api/postgres';
import { describeEachDatabase, errorReply, startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { updateAgent } from '../../agents/agent-repository';
import type { DataMachineDatabase } from '../../database/data-machine-database';
import { DataMachineError } from '../../errors';
import { createFlow, type NewFlow } from '../../flows/flow-repository';
import { createJob } from '../../jobs/job-lifecycle';
import { createPipeline, type Pipeline } from '../../pipelines/pipeline-repository';
import { asEngine } from '../../../test/support/engine-fixture';
import { codeOf, migratedContext, type TestContext } from '../../../test/support/identity-fixture';
import { digestStepConfig, digestSteps, flowWorld, type FlowWorld } from '../../../test/support/pipeline-fixture';
import type { EffectsRecorder, RecordedEffect, Step, StepContext } from '../step';
import { createAiStep, type AiStepOutput } from './ai-step';
import { isRetryableAiStepError } from './ai-step-failure';
import { publishEffectKey } from './publish-tools';

/** The executor's effects recorder, kept in memory: what one job's attempts share. */
function memoryEffects(): EffectsRecorder & { readonly effects: Map<string, RecordedEffect> } {
  const effects = new Map<string, RecordedEffect>();
  return {
    effects,
    find: async (key) => effects.get(key),
    record: async (effect) => {
      if (!effects.has(effect.key)) effects.set(effect.key, effect);
    },
  };
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** Resolves once `condition` holds; fails after two seconds. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function outputOf(result: Awaited<ReturnType<Step['execute']>>): AiStepOutput {
  if (result.kind !== 'output') throw new Error(`expected an output, got ${result.kind}`);
  return result.output as AiStepOutput;
}

await describeEachDatabase<DataMachineDatabase>('ai step', (database) => {
  let context: TestContext;
  let server: ModelServer;
  let step: Step;
  let provider: ModelProvider;
  let transcripts: TranscriptStore;
  let world: FlowWorld;
  let digest: { pipeline: Pipeline; flowId: string };
  let rewrite: { pipeline: Pipeline; flowId: string };

  beforeAll(async () => {
    context = await migratedContext(database.db);
    server = await startModelServer();
    provider = createOpenAIProvider({ apiKey: 'test-key', baseURL: server.baseURL, model: 'test-model', maxRetries: 0 });
    transcripts = createPostgresTranscriptStore({ db: database.database.db });
    world = await flowWorld(context, 'ai-step');
    step = createAiStep({ context, transcripts, provider, handlers: world.handlers });
    await updateAgent(context, world.owner, 'bot', { config: { instructions: 'You are Bot, a careful editor.', toolPolicy: { allowAutonomousWrites: true } } });
    digest = await pipelineWithFlow(world, 'digest', digestSteps, digestStepConfig);
    rewrite = await pipelineWithFlow(
      world,
      'rewrite',
      [
        { key: 'fetch', type: 'fetch', handler: 'json_items', config: { keyField: 'id' } },
        { key: 'rewrite', type: 'ai' },
      ],
      { fetch: { handlerConfig: { items: [{ id: 'a' }] } } },
    );
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => server.reset());

  it('is retry-safe: idempotent by its session key, a re-delivered job may run it again', () => {
    expect(step.retrySafe).toBe(true);
  });

  it('refuses a session lease that is not well under the job expiry (ai.invalid_input)', () => {
    expect(() => createAiStep({ context, transcripts, provider, handlers: world.handlers, lockTtlMs: 60_000, jobExpiryMs: 90_000 })).toThrow(
      expect.objectContaining({ code: 'ai.invalid_input' }),
    );
  });

  async function pipelineWithFlow(owner: FlowWorld, slug: string, steps: typeof digestSteps, stepConfig: NewFlow['stepConfig']) {
    const pipeline = await createPipeline(context, owner.owner, owner.handlers, 'bot', { slug, name: slug, steps });
    const flow = await createFlow(context, owner.owner, owner.handlers, 'bot', { pipeline: slug, slug, name: slug, stepConfig });
    return { pipeline, flowId: flow.id };
  }

  /** A new job of `target` started by `createdBy` (default the operator), and the context the executor would run its ai step with. */
  async function aiStepContext(target: { pipeline: Pipeline; flowId: string }, options: { createdBy?: string | null; signal?: AbortSignal; effects?: EffectsRecorder } = {}): Promise<StepContext> {
    const createdBy = options.createdBy === undefined ? world.userIds.operator : options.createdBy;
    const { job } = await asEngine(context, world.tenant.id, (trx) => createJob(context, trx, { flowId: target.flowId, source: 'manual', createdBy }));
    const aiStep = target.pipeline.steps.find((candidate) => candidate.type === 'ai');
    if (!aiStep) throw new Error('the pipeline has no ai step');
    return {
      tenantId: world.tenant.id,
      agentId: world.agent.id,
      pipelineId: target.pipeline.id,
      flowId: target.flowId,
      jobId: job.id,
      step: aiStep,
      logger: quiet,
      engineData: { item: { sourceKey: 'a', data: { id: 'a', title: 'Old title' } }, outputs: {} },
      effects: options.effects ?? memoryEffects(),
      signal: options.signal ?? new AbortController().signal,
    };
  }

  function recordsOfJob(jobId: string) {
    return database.db.selectFrom('dm_records').selectAll().where('job_id', '=', jobId).execute();
  }

  /** The error `promise` rejects with, which must be a DataMachineError. */
  async function errorOf(promise: Promise<unknown>): Promise<DataMachineError> {
    const error = await promise.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    if (!DataMachineError.isInstance(error)) throw new Error(`expected a DataMachineError, got ${String(error)}`);
    return error;
  }

  it("rewrites: the agent's instructions as system prompt, the queued prompt and the item as user message, its text as output", async () => {
    server.enqueue(textReply('New title'));
    const stepContext = await aiStepContext(rewrite);
    const output = outputOf(await step.execute({ value: { id: 'a', title: 'Old title' }, prompt: 'Rewrite the title.' }, stepContext));
    expect(output).toMatchObject({ text: 'New title', published: {} });
    const [request] = server.completionRequests();
    expect(request?.messages[0]).toEqual({ role: 'system', content: 'You are Bot, a careful editor.' });
    expect(request?.messages[1]).toMatchObject({ role: 'user', content: expect.stringContaining('Rewrite the title.') });
    expect(request?.messages[1]).toMatchObject({ content: expect.stringContaining('"title": "Old title"') });
    expect(request?.tools).toEqual([]);
  });

  it('returns the same output without a model call when the same job and step run again', async () => {
    server.enqueue(textReply('New title'));
    const stepContext = await aiStepContext(rewrite);
    const first = await step.execute({ value: { title: 'Old title' }, prompt: 'Rewrite the title.' }, stepContext);
    const second = await step.execute({ value: { title: 'Old title' }, prompt: 'Rewrite the title.' }, stepContext);
    expect(second).toEqual(first);
    expect(server.completionRequests()).toHaveLength(1);
  });

  it("uses the step's default prompt and the job's item when the executor hands in neither", async () => {
    server.enqueue(textReply('ok'));
    const aiStep = { ...rewrite.pipeline.steps[1]!, config: { prompt: 'Translate to French.' } };
    const stepContext = { ...(await aiStepContext(rewrite)), step: aiStep };
    await step.execute({ value: undefined }, stepContext);
    expect(server.completionRequests()[0]?.messages[1]).toMatchObject({ content: 'Translate to French.\n\nItem:\n{\n  "id": "a",\n  "title": "Old title"\n}' });
  });

  it('publishes through the records handler exactly once across two executions of the same job', async () => {
    server.enqueue(toolCallReply({ name: 'publish_store', arguments: { title: 'A', summary: 'Short.' } }), textReply('Published.'));
    const stepContext = await aiStepContext(digest);
    const first = outputOf(await step.execute({ value: { title: 'A' }, prompt: 'Summarize and publish.' }, stepContext));
    const second = outputOf(await step.execute({ value: { title: 'A' }, prompt: 'Summarize and publish.' }, stepContext));
    expect(second).toEqual(first);
    expect(first.published.store).toMatchObject({ created: true });
    expect(server.completionRequests()).toHaveLength(2);
    const records = await recordsOfJob(stepContext.jobId);
    expect(records).toEqual([expect.objectContaining({ id: first.published.store?.id, collection: 'digests', body: { title: 'A', summary: 'Short.' } })]);
    expect(await stepContext.effects.find(publishEffectKey(stepContext.jobId, 'store'))).toMatchObject({ kind: 'publish', detail: { id: first.published.store?.id } });
  });

  it('offers each later publish step as a tool, its parameters the handler input', async () => {
    server.enqueue(toolCallReply({ name: 'publish_store', arguments: { title: 'A' } }), textReply('Published.'));
    await step.execute({ value: { title: 'A' }, prompt: 'Publish.' }, await aiStepContext(digest));
    const [request] = server.completionRequests();
    expect(request?.tools).toEqual([expect.objectContaining({ type: 'function', function: expect.objectContaining({ name: 'publish_store', parameters: expect.objectContaining({ type: 'object' }) }) })]);
    expect(request?.messages[0]).toMatchObject({ content: expect.stringContaining('call each of these tools once: publish_store') });
  });

  it('publishes a second call of the same tool only once', async () => {
    server.enqueue(toolCallReply({ name: 'publish_store', arguments: { n: 1 } }), toolCallReply({ name: 'publish_store', arguments: { n: 2 } }), textReply('Done.'));
    const stepContext = await aiStepContext(digest);
    const output = outputOf(await step.execute({ value: { title: 'A' }, prompt: 'Publish.' }, stepContext));
    const records = await recordsOfJob(stepContext.jobId);
    expect(records.map((record) => record.body)).toEqual([{ n: 1 }]);
    expect(output.published.store).toMatchObject({ id: records[0]?.id, created: false });
  });

  it('reminds the model once, then fails ai.missing_tool_call (permanent) when a publish tool was never called', async () => {
    server.enqueue(textReply('Here is a summary.'), textReply('Still just a summary.'));
    const stepContext = await aiStepContext(digest);
    const error = await errorOf(step.execute({ value: { title: 'A' }, prompt: 'Summarize and publish.' }, stepContext));
    expect(error.code).toBe('ai.missing_tool_call');
    expect(error.details).toMatchObject({ missing: ['publish_store'], retryable: false });
    expect(isRetryableAiStepError(error)).toBe(false);
    const requests = server.completionRequests();
    expect(requests).toHaveLength(2);
    expect(requests[1]?.messages.at(-1)).toMatchObject({ role: 'system', content: expect.stringContaining('publish_store') });
    expect(await recordsOfJob(stepContext.jobId)).toEqual([]);
  });

  it('fails ai.unavailable (retryable) on a model 5xx, and the retry goes on without repeating the published turn', async () => {
    server.enqueue(toolCallReply({ name: 'publish_store', arguments: { title: 'A' } }), errorReply(503));
    const stepContext = await aiStepContext(digest);
    const error = await errorOf(step.execute({ value: { title: 'A' }, prompt: 'Publish.' }, stepContext));
    expect(error.code).toBe('ai.unavailable');
    expect(error.details).toMatchObject({ failureCode: 'provider.unavailable', retryable: true });
    expect(isRetryableAiStepError(error)).toBe(true);

    server.enqueue(textReply('Published.'));
    const output = outputOf(await step.execute({ value: { title: 'A' }, prompt: 'Publish.' }, stepContext));
    expect(output.text).toBe('Published.');
    const requests = server.completionRequests();
    expect(requests).toHaveLength(3);
    // The retry's one call carries the first turn's tool call and result; the tool did not run again.
    expect(requests[2]?.messages.map((message) => message.role)).toEqual(['system', 'user', 'assistant', 'tool']);
    expect(await recordsOfJob(stepContext.jobId)).toHaveLength(1);
  });

  it('fails ai.run_failed (permanent) when the model refuses the request, and a retry returns the same failure without a model call', async () => {
    server.enqueue(errorReply(400, { message: 'bad request' }));
    const stepContext = await aiStepContext(rewrite);
    const error = await errorOf(step.execute({ value: 'x', prompt: 'Rewrite.' }, stepContext));
    expect(error).toMatchObject({ code: 'ai.run_failed', details: { failureCode: 'provider.bad_request', retryable: false } });
    expect(isRetryableAiStepError(error)).toBe(false);
    expect(await codeOf(step.execute({ value: 'x', prompt: 'Rewrite.' }, stepContext))).toBe('ai.run_failed');
    expect(server.completionRequests()).toHaveLength(1);
  });

  it("fails ai.run_incomplete (permanent) when the run spends the step's turn budget", async () => {
    server.enqueue(toolCallReply({ name: 'publish_store', arguments: { title: 'A' } }));
    const stepContext = await aiStepContext(digest);
    const limited = { ...stepContext, step: { ...stepContext.step, config: { maxTurns: 1 } } };
    const error = await errorOf(step.execute({ value: { title: 'A' }, prompt: 'Publish.' }, limited));
    expect(error).toMatchObject({ code: 'ai.run_incomplete', details: { status: 'budget_exceeded', budget: 'turns', retryable: false } });
    expect(server.completionRequests()).toHaveLength(1);
  });

  it('stops with ai.cancelled (retryable) when context.signal aborts, and the next execution goes on', async () => {
    server.enqueue(textReply('too late', { delayMs: 30_000 }));
    const controller = new AbortController();
    const stepContext = await aiStepContext(rewrite, { signal: controller.signal });
    const running = errorOf(step.execute({ value: { title: 'A' }, prompt: 'Rewrite.' }, stepContext));
    await until(() => server.completionRequests().length === 1);
    controller.abort();
    const error = await running;
    expect(error.code).toBe('ai.cancelled');
    expect(isRetryableAiStepError(error)).toBe(true);

    server.enqueue(textReply('New title'));
    const output = outputOf(await step.execute({ value: { title: 'A' }, prompt: 'Rewrite.' }, { ...stepContext, signal: new AbortController().signal }));
    expect(output.text).toBe('New title');
    expect(server.completionRequests()).toHaveLength(2);
  });

  it('fails ai.unavailable (retryable) without a model call when a re-delivered job finds the step still running elsewhere', async () => {
    server.enqueue(textReply('slow', { delayMs: 30_000 }));
    const controller = new AbortController();
    const stepContext = await aiStepContext(rewrite, { signal: controller.signal });
    const running = errorOf(step.execute({ value: 'x', prompt: 'Rewrite.' }, stepContext));
    await until(() => server.completionRequests().length === 1);
    const error = await errorOf(step.execute({ value: 'x', prompt: 'Rewrite.' }, { ...stepContext, signal: new AbortController().signal }));
    expect(error).toMatchObject({ code: 'ai.unavailable', details: { failureCode: 'transcript.session_locked', retryable: true } });
    expect(server.completionRequests()).toHaveLength(1);
    controller.abort();
    expect((await running).code).toBe('ai.cancelled');
  });

  it("composes the agent's memory files into the system prompt after its instructions", async () => {
    const memory = createInMemoryMemoryStore();
    await memory.write({ layer: 'agent', tenantId: world.tenant.id, agentSlug: 'bot', userId: null, path: 'SOUL.md' }, 'Bot writes plainly.');
    const withMemory = createAiStep({ context, transcripts, provider, handlers: world.handlers, memory });
    server.enqueue(textReply('ok'));
    await withMemory.execute({ value: 'x', prompt: 'Rewrite.' }, await aiStepContext(rewrite));
    expect(server.completionRequests()[0]?.messages[0]).toEqual({ role: 'system', content: 'You are Bot, a careful editor.\n\n## SOUL.md\n\nBot writes plainly.' });
  });

  it('fails ai.cancelled without a model call when the signal is already aborted', async () => {
    const stepContext = await aiStepContext(rewrite, { signal: AbortSignal.abort() });
    expect(await codeOf(step.execute({ value: { title: 'A' }, prompt: 'Rewrite.' }, stepContext))).toBe('ai.cancelled');
    expect(server.completionRequests()).toEqual([]);
  });

  it('acts as the user who started the job: one without flow.run (a viewer) is denied before any model call', async () => {
    const stepContext = await aiStepContext(rewrite, { createdBy: world.userIds.viewer });
    expect(await codeOf(step.execute({ value: { title: 'A' }, prompt: 'Rewrite.' }, stepContext))).toBe('access.denied');
    expect(context.denials.at(-1)?.entry).toMatchObject({ action: 'flow.run', reason: 'agent_role_too_low' });
    expect(server.completionRequests()).toEqual([]);
  });

  it("acts for the flow's maker when the job names no user, and refuses when neither names one", async () => {
    server.enqueue(textReply('ok'));
    const byFlowMaker = await aiStepContext(rewrite, { createdBy: null });
    expect(outputOf(await step.execute({ value: 'x', prompt: 'Rewrite.' }, byFlowMaker)).text).toBe('ok');

    const other = await pipelineWithFlow(world, 'orphan', [{ key: 'rewrite', type: 'ai' }], {});
    await database.db.updateTable('dm_flows').set({ created_by: null }).where('id', '=', other.flowId).execute();
    const orphan = await aiStepContext(other, { createdBy: null });
    const error = await errorOf(step.execute({ value: 'x', prompt: 'Rewrite.' }, orphan));
    expect(error).toMatchObject({ code: 'access.denied', details: { reason: 'no_acting_user' } });
    expect(server.completionRequests()).toHaveLength(1);
  });

  it("fails ai.tool_denied before any model call when the agent's tool policy keeps a publish tool from the run", async () => {
    const denying = await flowWorld(context, 'ai-step-denied');
    const target = await pipelineWithFlow(denying, 'digest', digestSteps, digestStepConfig);
    const { job } = await asEngine(context, denying.tenant.id, (trx) => createJob(context, trx, { flowId: target.flowId, source: 'manual', createdBy: denying.userIds.operator }));
    const stepContext: StepContext = {
      ...(await aiStepContext(digest)),
      tenantId: denying.tenant.id,
      agentId: denying.agent.id,
      pipelineId: target.pipeline.id,
      flowId: target.flowId,
      jobId: job.id,
    };
    const error = await errorOf(step.execute({ value: { title: 'A' }, prompt: 'Publish.' }, stepContext));
    // Scheduled work is autonomous: a write tool needs `allowAutonomousWrites` in the agent's policy.
    expect(error).toMatchObject({ code: 'ai.tool_denied', details: { tool: 'publish_store', reason: 'autonomous_write' } });
    expect(context.denials.at(-1)?.entry).toMatchObject({ tool: 'publish_store', reason: 'autonomous_write' });
    expect(server.completionRequests()).toEqual([]);
  });

  it('fails ai.invalid_input when there is no prompt and no data, and on a bad step configuration', async () => {
    const stepContext = await aiStepContext(rewrite);
    const empty = { ...stepContext, engineData: { outputs: {} } };
    expect(await codeOf(step.execute({ value: undefined }, empty))).toBe('ai.invalid_input');
    const badConfig = { ...stepContext, step: { ...stepContext.step, config: { maxTurns: 0 } } };
    expect(await codeOf(step.execute({ value: 'x', prompt: 'Rewrite.' }, badConfig))).toBe('ai.invalid_input');
    expect(server.completionRequests()).toEqual([]);
  });
});
