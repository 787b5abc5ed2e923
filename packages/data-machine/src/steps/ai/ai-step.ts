import { createHash } from 'node:crypto';
import {
  createMessage,
  createSessionRunner,
  createToolLoopRunner,
  type CompletionPolicy,
  type ConversationLimits,
  type MemoryStore,
  type ModelProvider,
  type ApprovalDecision,
  type ResumeSessionRequest,
  type RunBegin,
  type SessionRunResult,
  type TranscriptStore,
} from '@data-machine/agents-api';
import { composeAgentInstructions } from '../../agents/agent-instructions';
import type { DataMachineContext } from '../../context';
import type { PublishResult } from '../../handlers/handler';
import type { HandlerRegistry } from '../../handlers/handler-registry';
import type { HandlerHttp } from '../../handlers/http/handler-network';
import type { HandlerSecrets } from '../../secrets/handler-secrets';
import type { Step, StepContext, StepInput, StepResult } from '../step';
import { aiError, isContinuable, thrownRunError, unfinishedRunError } from './ai-step-failure';
import { composeUserMessage, parseAiStepConfig } from './ai-step-input';
import { loadAiStepWorld, type AiStepWorld } from './ai-step-world';
import { createApprovalGate, type ApprovalGate } from './approval-gate';
import { declinedEffectKind, missingCalls, preparePublishTools, publishEffectKey, requirePublishCalls, type PublishTool } from './publish-tools';

/** What {@link createAiStep} is made of. */
export interface AiStepOptions {
  readonly context: DataMachineContext;
  /** A durable transcript store (the Postgres one): runs are resumed from it. */
  readonly transcripts: TranscriptStore;
  readonly provider: ModelProvider;
  /** The handlers of the publish steps the model is offered as tools. */
  readonly handlers: HandlerRegistry;
  /** The agent's memory files; when given, composed into the system prompt after the agent's instructions. */
  readonly memory?: MemoryStore;
  /**
   * The session lease (see `SessionRunnerOptions.lockTtlMs`), renewed while
   * the run goes on. Default: the substrate's (15 s), capped at a tenth of
   * `jobExpiryMs`; a lease of half the job expiry or more is refused.
   */
  readonly lockTtlMs?: number;
  /** pg-boss's job expiry (`JobEngine.options.expireInSeconds` x 1000): the session lease stays well under it. */
  readonly jobExpiryMs?: number;
  /** The network the publish handlers the model calls reach out through (`HandlerContext.http`): each call gets its job's tenant's client. */
  readonly http?: HandlerHttp;
  /** Where those handlers' credentials come from (`HandlerContext.secret`); without it they get none. */
  readonly secrets?: HandlerSecrets;
  /** Further bounds on each run; the step's `maxTurns` wins over `limits.maxTurns`. */
  readonly limits?: ConversationLimits;
  /** How long a call held for approval (a `preview` tool) waits for a person before it is rejected; default one day. */
  readonly approvalTtlMs?: number;
}

/** What an `ai` step outputs: the agent's final text and what its publish tools published, by step key. */
export interface AiStepOutput {
  readonly text: string | null;
  readonly published: Readonly<Record<string, PublishResult>>;
  /** Publish steps whose call a person rejected, with the reason: nothing was published for them. */
  readonly declined: Readonly<Record<string, string>>;
  readonly sessionId: string;
  readonly runId: string;
}

/**
 * The `ai` step: runs the flow's agent on the queued prompt and the item,
 * through the substrate's durable session runner. The job and step are the
 * run's idempotency key, so a retried or re-delivered job gets the finished
 * run back without a model call, or continues an interrupted one from its
 * transcript. Later publish and upsert steps are offered as tools the run
 * must call. Failures are `ai.*` errors; {@link isRetryableAiStepError} tells
 * the executor which a retry may get past.
 *
 * @example
 * const ai = createAiStep({ context, transcripts: createPostgresTranscriptStore({ db }), provider, handlers });
 * const result = await ai.execute({ value: item, prompt: 'Summarize this.' }, stepContext);
 */
export function createAiStep(options: AiStepOptions): Step {
  const lockTtlMs = aiStepLease(options);
  const resolved = lockTtlMs === undefined ? options : { ...options, lockTtlMs };
  // Idempotent by its session key (job and step): a re-delivery gets the finished run back or resumes it.
  return { type: 'ai', retrySafe: true, execute: (input, step) => executeAiStep(resolved, input, step) };
}

/** The session lease a step runs under: well below the job expiry, so a vanished worker's lease lapses long before pg-boss re-delivers. */
function aiStepLease(options: AiStepOptions): number | undefined {
  const { lockTtlMs, jobExpiryMs } = options;
  if (jobExpiryMs === undefined) return lockTtlMs;
  if (lockTtlMs !== undefined && lockTtlMs * 2 > jobExpiryMs) {
    throw aiError('ai.invalid_input', `The ai step's session lease (${lockTtlMs} ms) must stay well under the job expiry (${jobExpiryMs} ms): at most half of it.`);
  }
  return lockTtlMs ?? Math.max(1, Math.min(defaultSessionLeaseMs, Math.floor(jobExpiryMs / 10)));
}

const defaultSessionLeaseMs = 15_000;

async function executeAiStep(options: AiStepOptions, input: StepInput, step: StepContext): Promise<StepResult> {
  if (step.signal.aborted) throw aiError('ai.cancelled', 'The job was cancelled before the ai step began.');
  if (step.step.type !== 'ai') throw aiError('ai.invalid_input', `The ai step was handed a ${step.step.type} step.`);
  const config = parseAiStepConfig(step.step.config);
  const world = await loadAiStepWorld(options.context, step);
  const content = composeUserMessage(input, config, step.engineData);
  const published = new Map<string, PublishResult>();
  const tools = await preparePublishTools({ context: options.context, handlers: options.handlers, world, step, published, ...(options.http === undefined ? {} : { http: options.http }), ...(options.secrets === undefined ? {} : { secrets: options.secrets }) });
  const gate = await createApprovalGate({ context: options.context, step, world, tools, ...(options.approvalTtlMs === undefined ? {} : { approvalTtlMs: options.approvalTtlMs }) });
  const run = {
    principal: world.principal,
    granted: world.granted,
    instructions: await composeInstructions(options, world, tools),
    tools: tools.map((entry) => entry.tool),
    ...(world.agent.effectiveConfig.model === undefined ? {} : { model: world.agent.effectiveConfig.model }),
    limits: { ...options.limits, maxTurns: config.maxTurns },
    metadata: { jobId: step.jobId, stepKey: step.step.key },
  };
  const ran = await runDurably(options, { step, world, fields: run, content, completionPolicy: requirePublishCalls(tools, published, gate.declined), gate });
  if (ran.kind === 'wait') {
    step.logger.info({ signal: ran.signal, until: ran.until.toISOString() }, 'ai step waits for a person to decide on a held call');
    return ran;
  }
  const { result } = ran.outcome;
  const place = { sessionId: ran.outcome.session.id, runId: ran.outcome.runId };
  if (result.status !== 'completed') throw unfinishedRunError(result, place);
  const missing = missingCalls(tools, published, gate.declined);
  if (missing.length > 0) {
    throw aiError('ai.missing_tool_call', `The agent finished without calling ${missing.join(', ')}, even when reminded.`, { ...place, missing });
  }
  await recordDeclined(step, gate, published);
  const output: AiStepOutput = { text: result.finalContent, published: Object.fromEntries(published), declined: Object.fromEntries(gate.declined), ...place };
  step.logger.info({ ...place, turns: result.turns, published: [...published.keys()], declined: [...gate.declined.keys()] }, 'ai step completed');
  return { kind: 'output', output };
}

/** Marks each rejected, unpublished publish step so the publish step itself skips rather than publishing this step's output. */
async function recordDeclined(step: StepContext, gate: ApprovalGate, published: ReadonlyMap<string, PublishResult>): Promise<void> {
  for (const [stepKey, reason] of gate.declined) {
    if (published.has(stepKey)) continue;
    await step.effects.record({ key: publishEffectKey(step.jobId, stepKey), kind: declinedEffectKind, detail: { step: stepKey, reason } });
  }
}

/** What one execution runs: the step, who acts, the run's fields (all but where and under which key), the user message, the completion policy. */
interface StepRun {
  readonly step: StepContext;
  readonly world: AiStepWorld;
  readonly fields: Omit<ResumeSessionRequest, 'owner' | 'sessionId' | 'input' | 'approvals' | 'idempotencyKey'>;
  readonly content: string;
  readonly completionPolicy: CompletionPolicy;
  readonly gate: ApprovalGate;
}

/** How {@link runDurably} ended: a run that ended, or a wait for a person's decision. */
type DurableOutcome = { readonly kind: 'ran'; readonly outcome: SessionRunResult } | { readonly kind: 'wait'; readonly signal: string; readonly until: Date };

/**
 * Runs the step's session under the key `job:<job>:step:<step>`. The first
 * attempt starts the session with the user message; a retry with the same key
 * gets the run back. A run that a retry finds ended retryably (the model was
 * unavailable) or cancelled is gone on from, on the same session, by a run
 * keyed after it: the chain of keys is the same on every retry, so each
 * finished run is returned, never run again. A run that ended
 * `approval_required` is gone on from the same way once every held call is
 * decided (the decisions are its `approvals`); until then the step waits.
 */
async function runDurably(options: AiStepOptions, { step, world, fields, content, completionPolicy, gate }: StepRun): Promise<DurableOutcome> {
  const sessionId = stepSessionId(step.jobId, step.step.key);
  const baseKey = `job:${step.jobId}:step:${step.step.key}`;
  const owner = { tenantId: step.tenantId, userId: world.principal.userId };
  const runOptions = { signal: step.signal };
  let key = baseKey;
  let continuing = false;
  let approvals: readonly ApprovalDecision[] | undefined;
  for (;;) {
    let begin: RunBegin | undefined;
    const sessions = createSessionRunner({
      store: observingRunBegins(options.transcripts, (observed) => (begin ??= observed)),
      createRunner: (persister) => createToolLoopRunner({ provider: options.provider, persister, completionPolicy, ...(gate.mediator === undefined ? {} : { mediator: gate.mediator }) }),
      ...(options.lockTtlMs === undefined ? {} : { lockTtlMs: options.lockTtlMs }),
    });
    const outcome = await (continuing
      ? sessions.resume({ ...fields, owner, sessionId, idempotencyKey: key, ...(approvals === undefined ? {} : { approvals }) }, runOptions)
      : sessions.start(
          {
            ...fields,
            owner,
            idempotencyKey: key,
            session: { id: sessionId, agentSlug: world.agent.slug, title: `Job ${step.jobId}, step ${step.step.key}`, metadata: { jobId: step.jobId, flowId: step.flowId, stepKey: step.step.key } },
            input: [createMessage({ type: 'text', role: 'user', content, payload: {} })],
          },
          runOptions,
        )
    ).catch((error: unknown) => {
      throw thrownRunError(error);
    });
    if (approvals !== undefined) await gate.settle(approvals, outcome.result);
    approvals = undefined;
    if (outcome.result.status === 'approval_required') {
      const decided = await gate.decide(outcome.result.pending);
      if (decided.kind === 'wait') return decided;
      approvals = decided.approvals;
      key = `${baseKey}:after:${outcome.runId}`;
      continuing = true;
      continue;
    }
    const replayed = begin !== undefined && !begin.created && begin.run.status !== 'running';
    if (!replayed || !isContinuable(outcome.result)) return { kind: 'ran', outcome };
    key = `${baseKey}:after:${outcome.runId}`;
    continuing = true;
  }
}

/** The session of one job's step: a fixed id derived from both, so every retry finds it. */
export function stepSessionId(jobId: string, stepKey: string): string {
  return `job-step-${createHash('sha256').update(JSON.stringify([jobId, stepKey])).digest('hex').slice(0, 48)}`;
}

/** The store, telling `onBegin` what each `beginRun` found: whether a run was begun or an ended one returned. */
function observingRunBegins(store: TranscriptStore, onBegin: (begin: RunBegin) => void): TranscriptStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'beginRun') {
        return async (...args: Parameters<TranscriptStore['beginRun']>) => {
          const begin = await target.beginRun(...args);
          onBegin(begin);
          return begin;
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** The agent's instructions and memory, then what the step expects of the run. */
function composeInstructions(options: AiStepOptions, world: AiStepWorld, tools: readonly PublishTool[]): Promise<string> {
  const duty = tools.length === 0 ? [] : [`This run is a step of an automated pipeline. Before you finish, call each of these tools once: ${tools.map((entry) => entry.toolName).join(', ')}.`];
  return composeAgentInstructions(world.agent, options.memory, { tenantId: world.principal.tenantId, userId: world.principal.userId }, duty);
}
