import { AgentsApiError, isRetryableCode } from '../errors';
import { newMessageId } from '../messages/envelope-defaults';
import { createMessage, type AgentMessage, type MessageDraft, type ToolCall } from '../messages/message';
import { replaceNul } from '../messages/replace-nul';
import { isValidPrincipal } from '../permissions/caller-chain';
import {
  addUsage,
  countedTokens,
  emptyUsage,
  type ModelProvider,
  type ModelRequest,
  type ModelResponse,
  type ModelToolSpec,
  type ModelUsage,
} from '../providers/model-provider';
import { toModelToolSpec } from '../tools/model-tool-spec';
import type { AnyToolDefinition } from '../tools/tool';
import type { ToolLoopRunnerOptions } from './tool-loop-options';
import type {
  ApprovalDecision,
  BudgetName,
  ClientToolCall,
  ConversationEvent,
  ConversationRequest,
  ConversationResult,
  MediatorDecision,
  PendingApproval,
  RunOptions,
  RunState,
  ToolExecution,
} from './conversation-runner';
import { resolveLimits, startWallClock, type ResolvedLimits, type WallClock } from './limits';
import type { LinkedAbort } from './linked-abort';
import { RunBudget } from './run-budget';
import { orderForModel, toolCallIds, unansweredToolCalls, type UnansweredCall } from './model-view';
import { AbortRace, executeToolCall, RunAborted, type ToolCallEnvironment, type ToolCallOutcome } from './tool-execution';

/** `run` calls the model plainly; `stream` streams it and emits its text deltas. */
export type ModelMode = 'stream' | 'complete';

/** How a run ended, before the shared fields are added. */
type Ending = ConversationResult extends infer Result
  ? Result extends ConversationResult
    ? Omit<Result, 'messages' | 'toolExecutions' | 'usage' | 'turns' | 'finalContent'>
    : never
  : never;

class PersistFailure extends Error {}

/** One run of the built-in loop: its state, its steps and how it ends. */
export class ToolLoop {
  readonly #options: ToolLoopRunnerOptions;
  readonly #request: ConversationRequest;
  readonly #mode: ModelMode;
  readonly #limits: ResolvedLimits;
  /** The run's signal; for a run nothing can abort, made only if a tool asks for it. */
  #runSignal: AbortSignal | undefined;
  /** Whether anything can abort the run; if not, model calls go without a signal, which the SDK handles faster. */
  readonly #cancellable: boolean;
  /** Model calls and tools race the run's signal through this, when something can abort the run. */
  readonly #abortRace: AbortRace | undefined;
  readonly #wallClock: WallClock | undefined;
  readonly #tools = new Map<string, AnyToolDefinition>();
  readonly #messages: AgentMessage[];
  readonly #produced: AgentMessage[] = [];
  readonly #executions: ToolExecution[] = [];
  readonly #usedCallIds: Set<string>;
  #usage: ModelUsage = emptyUsage;
  #turns = 0;
  readonly #budget: RunBudget;
  /** Calls the request's conversation left without results, finished before the first model call. */
  readonly #unanswered: readonly UnansweredCall[];
  /** The tools as the model is told about them: the same for every turn of the run. */
  #modelTools: readonly ModelToolSpec[] | undefined;
  /** The stream's consumer; absent for `run`. */
  readonly #consumer: ((event: ConversationEvent) => Promise<void>) | undefined;
  readonly #hasSinks: boolean;
  /** Whether any sink or consumer hears events; if not, none are made. */
  readonly #observed: boolean;
  /** The next event's `index`. */
  #eventIndex = 0;
  /**
   * When observed, the id of the assistant message the current turn will
   * record, chosen before the model call so that its deltas can name it.
   */
  #turnMessageId: string | undefined;

  constructor(
    options: ToolLoopRunnerOptions,
    request: ConversationRequest,
    runOptions: RunOptions,
    mode: ModelMode,
    consumer?: (event: ConversationEvent) => Promise<void>,
    /** The stream's own controller, behind `runOptions.signal`: the wall clock arms its timer on it. */
    ownAbort?: LinkedAbort,
  ) {
    this.#options = options;
    this.#consumer = consumer;
    this.#hasSinks = (options.sinks?.length ?? 0) > 0;
    this.#observed = consumer !== undefined || this.#hasSinks;
    this.#request = request;
    this.#mode = mode;
    this.#limits = resolveLimits(request.limits);
    this.#budget = new RunBudget(this.#limits);
    if (!isValidPrincipal(request.principal)) {
      throw new AgentsApiError('runner.invalid_request', 'The request has no valid principal');
    }
    for (const tool of request.tools ?? []) {
      if (this.#tools.has(tool.name)) {
        throw new AgentsApiError('runner.invalid_request', `Two tools are named "${tool.name}"`, { details: { tool: tool.name } });
      }
      this.#tools.set(tool.name, tool);
    }
    const { toolChoice } = request;
    if (typeof toolChoice === 'object' && !this.#tools.has(toolChoice.name)) {
      throw new AgentsApiError('runner.invalid_request', `The tool choice names "${toolChoice.name}", which is not one of the run's tools`, { details: { tool: toolChoice.name } });
    }
    this.#messages = [...request.messages];
    const { ids, repeated } = toolCallIds(request.messages);
    this.#usedCallIds = ids;
    if (repeated !== undefined) {
      throw new AgentsApiError('runner.invalid_request', `Tool-call id "${repeated}" is used twice in the conversation`, { details: { toolCallId: repeated } });
    }
    this.#unanswered = this.#usedCallIds.size === 0 ? [] : unansweredToolCalls(request.messages);
    if (request.approvals?.length) this.#checkApprovals(request.approvals);
    // Started last, once the request has been accepted: `finish` stops it.
    const { signal } = runOptions;
    // The wall clock's signal follows the caller's: one signal for both (see `startWallClock`).
    this.#wallClock = this.#limits.timeoutMs === undefined ? undefined : startWallClock(this.#limits.timeoutMs, signal, ownAbort);
    this.#runSignal = this.#wallClock?.signal ?? signal;
    this.#cancellable = this.#runSignal !== undefined;
    this.#abortRace = this.#runSignal === undefined ? undefined : new AbortRace(this.#runSignal);
  }

  /** Every decision must answer a call the conversation left open. */
  #checkApprovals(approvals: readonly ApprovalDecision[]): void {
    const waiting = new Set(this.#unanswered.map((entry) => entry.toolCall.id));
    for (const { toolCallId } of approvals) {
      if (!waiting.has(toolCallId)) {
        throw new AgentsApiError('runner.invalid_request', `There is no unanswered tool call "${toolCallId}" to decide on`, { details: { toolCallId } });
      }
    }
  }

  /** Runs to the end, emits `run_end`, and resolves to the result. */
  async finish(): Promise<ConversationResult> {
    let ending: Ending;
    try {
      ending = await this.execute();
    } finally {
      this.#wallClock?.stop();
    }
    const result = this.result(ending);
    if (this.#observed) await this.#emit({ type: 'run_end', index: this.#eventIndex++, messageId: this.#produced.at(-1)?.id ?? null, result });
    return result;
  }

  async execute(): Promise<Ending> {
    try {
      if (this.#unanswered.length > 0) {
        const resumed = await this.#resume();
        if (resumed) return resumed;
      }
      for (;;) {
        if (this.#runSignal?.aborted) throw new RunAborted();
        const spent = this.#budget.spentBeforeModelCall(this.#turns, countedTokens(this.#usage));
        if (spent) return { status: 'budget_exceeded', budget: spent };
        this.#turns += 1;
        if (this.#observed) {
          this.#turnMessageId = (this.#options.generateId ?? newMessageId)();
          await this.#emit({ type: 'turn_start', index: this.#eventIndex++, messageId: this.#turnMessageId, turn: this.#turns });
        }
        const response = await this.#callModel();
        this.#usage = addUsage(this.#usage, response.usage);
        const used = countedTokens(this.#usage);
        const warnAt = this.#budget.tokenWarning(used);
        if (warnAt !== undefined && this.#observed) {
          await this.#emit({ type: 'budget_warning', index: this.#eventIndex++, messageId: this.#turnMessageId ?? null, budget: 'tokens', used, limit: warnAt });
        }
        if (response.toolCalls.length > 0) {
          const ending = await this.#toolStep(response);
          if (ending) return ending;
          continue;
        }
        // An answer without tools ends the run, unless the completion policy wants more.
        const payload = { usage: response.usage, model: response.model, finishReason: response.finishReason };
        const recording = this.#record([this.#draft({ id: this.#turnMessageId, type: 'text', role: 'assistant', content: response.content ?? '', payload })]);
        if (recording) await recording;
        const verdict = this.#options.completionPolicy?.check(this.#state()) ?? complete;
        if (verdict.complete) return { status: 'completed' };
        await this.#record([this.#draft({ type: 'text', role: 'system', content: verdict.nudge, payload: { nudge: true } })]);
      }
    } catch (error) {
      return this.#endingFor(error);
    }
  }

  result(ending: Ending): ConversationResult {
    const finalText = this.#produced.findLast((message) => message.type === 'text' && message.role === 'assistant');
    // The arrays are handed over, not copied: the run is over and never touches them again.
    // Object.assign rather than `{ ...ending, messages, ... }`: on Node 20 a spread
    // followed by more properties costs microseconds per object. `status` leads, as before.
    return Object.assign(
      {
        status: ending.status,
        messages: this.#produced,
        toolExecutions: this.#executions,
        usage: this.#usage,
        turns: this.#turns,
        finalContent: finalText?.content ?? null,
      },
      ending,
    );
  }

  /** Hands an event to every sink; a sink that throws is reported, never fatal. */
  async deliver(event: ConversationEvent): Promise<void> {
    for (const sink of this.#options.sinks ?? []) {
      try {
        await sink.onEvent(event);
      } catch (error) {
        try {
          this.#options.onSinkError?.(error, event);
        } catch {
          // An error reporter that throws is as unimportant to the run as the sink.
        }
      }
    }
  }

  get #signal(): AbortSignal {
    // A signal that never aborts, but one per run: a tool may leave listeners on it.
    this.#runSignal ??= new AbortController().signal;
    return this.#runSignal;
  }

  #state(): RunState {
    return { request: this.#request, turn: this.#turns, messages: this.#messages, toolExecutions: this.#executions };
  }

  #endingFor(error: unknown): Ending {
    const cancelled = error instanceof RunAborted || (AgentsApiError.isInstance(error) && error.code === 'provider.cancelled');
    if (cancelled || this.#runSignal?.aborted) {
      return this.#wallClock?.expired === true ? { status: 'budget_exceeded', budget: 'wall_clock' } : { status: 'cancelled' };
    }
    if (error instanceof PersistFailure) {
      return { status: 'failed', failure: { code: 'runner.persist_failed', message: error.message, retryable: isRetryableCode('runner.persist_failed') } };
    }
    if (AgentsApiError.isInstance(error)) return { status: 'failed', failure: { code: error.code, message: error.message, retryable: isRetryableCode(error.code) } };
    // A seam (provider, mediator, completion policy) threw something of its own:
    // the run still ends with a result, and sinks still hear `run_end`.
    const message = error instanceof Error ? error.message : String(error);
    return { status: 'failed', failure: { code: 'runner.seam_failed', message: `A seam of the run failed: ${message}`, retryable: false } };
  }

  /** One model call; not itself async in `run`, so a turn waits on the provider's promise directly. */
  #callModel(): Promise<ModelResponse> {
    // One shape for every request: an unset field is present and undefined, never spread in.
    const request: ModelRequest = {
      messages: orderForModel(this.#messages),
      // Client-side tools are offered too: a call of one ends the run as `tool_calls_required`.
      tools: (this.#modelTools ??= [...this.#tools.values()].map(toModelToolSpec)),
      instructions: this.#request.instructions,
      model: this.#request.model,
      temperature: this.#request.temperature,
      topP: this.#request.topP,
      maxOutputTokens: this.#request.maxOutputTokens,
      toolChoice: this.#request.toolChoice,
      responseFormat: this.#request.responseFormat,
      stop: this.#request.stop,
    };
    const { provider } = this.#options;
    if (this.#mode === 'stream') return this.#streamModel(provider, request);
    return this.#abortRace ? this.#abortRace.race(provider.complete(request, { signal: this.#signal })) : provider.complete(request);
  }

  async #streamModel(provider: ModelProvider, request: ModelRequest): Promise<ModelResponse> {
    const callOptions = this.#cancellable ? { signal: this.#signal } : {};
    let response: ModelResponse | undefined;
    const messageId = this.#turnMessageId ?? null;
    for await (const event of provider.stream(request, callOptions)) {
      if (this.#runSignal?.aborted) throw new RunAborted();
      if (event.type === 'text_delta') await this.#emit({ type: 'text_delta', index: this.#eventIndex++, messageId, text: event.text });
      else if (event.type === 'tool_call_delta') {
        await this.#emit({
          type: 'tool_call_delta',
          index: this.#eventIndex++,
          messageId,
          toolCallIndex: event.index,
          toolCallId: event.toolCallId,
          toolName: event.toolName,
          argumentsDelta: event.argumentsDelta,
        });
      } else if (event.type === 'response') response = event.response;
    }
    if (!response) throw new AgentsApiError('provider.bad_response', `${provider.name}: the stream ended without a response`);
    return response;
  }

  /** One tool step: the call message, mediation, execution, the results, then what ends the run, if anything. */
  async #toolStep(response: ModelResponse): Promise<Ending | undefined> {
    const calls = response.toolCalls.map((call) => this.#uniqueCall(call));
    const payload = { toolCalls: calls, usage: response.usage, model: response.model, finishReason: response.finishReason };
    const callMessage = this.#draft({ id: this.#turnMessageId, type: 'tool_call', role: 'assistant', content: response.content ?? '', payload });
    const recording = this.#record([callMessage]);
    if (recording) await recording;
    if (this.#observed) for (const toolCall of calls) await this.#emit({ type: 'tool_call', index: this.#eventIndex++, messageId: callMessage.id, toolCall });

    const outcomes = new Map<string, ToolCallOutcome>();
    const toRun: ToolCall[] = [];
    const held: PendingApproval[] = [];
    // Calls of client-side tools the mediator let through: the caller runs them.
    const forClient: ClientToolCall[] = [];
    let budget: BudgetName | undefined;
    for (const call of calls) {
      const spent = this.#budget.takeToolCall(call);
      if (spent) {
        budget ??= spent;
        outcomes.set(call.id, notRun(call, 'error', `Not run: the ${spent === 'tool_calls' ? 'tool-call' : `"${call.name}"`} budget of this run is spent.`));
        continue;
      }
      const tool = this.#tools.get(call.name);
      const { mediator } = this.#options;
      // A mediator written in JavaScript may answer nothing; that means proceed.
      const decision = mediator ? ((await mediator.mediate(call, tool, this.#state())) ?? proceed) : proceed;
      if (decision.action === 'proceed') {
        if (tool?.clientSide) forClient.push(toClientCall(call));
        else toRun.push(call);
      }
      else if (decision.action === 'reject') outcomes.set(call.id, notRun(call, 'rejected', `Rejected: ${decision.reason}`));
      else if (decision.action === 'replace') outcomes.set(call.id, notRun(call, 'replaced', decision.content));
      else held.push({ toolCall: call, reason: decision.reason });
    }
    const ran = toRun.length === 0 ? [] : await this.#runAll(toRun);
    for (let index = 0; index < ran.length; index += 1) outcomes.set(toRun[index]?.id ?? '', ran[index] as ToolCallOutcome);

    const answered: ToolCallOutcome[] = [];
    for (const call of calls) {
      const outcome = outcomes.get(call.id);
      if (outcome) answered.push(outcome);
    }
    const ending = await this.#recordOutcomes(answered);
    if (ending) return ending;
    if (held.length > 0) {
      const heldMessages = held.map((pending) =>
        this.#draft({ type: 'approval_required', role: 'assistant', content: pending.reason, payload: { toolCall: pending.toolCall, reason: pending.reason } }),
      );
      await this.#record(heldMessages);
      if (this.#observed) {
        for (let index = 0; index < held.length; index += 1) {
          await this.#emit({ type: 'approval_required', index: this.#eventIndex++, messageId: heldMessages[index]?.id ?? null, pending: held[index] as PendingApproval });
        }
      }
      return { status: 'approval_required', pending: held };
    }
    // After this step's server-side calls ran; an ending above leaves these calls open, and a later run answers them with an error.
    if (forClient.length > 0) return { status: 'tool_calls_required', pendingToolCalls: forClient };
    return budget ? { status: 'budget_exceeded', budget } : undefined;
  }

  /**
   * Answers the calls a previous run left without results, before the model
   * is called: approved calls run, rejected ones are refused, held ones
   * without a decision are refused, interrupted ones run again only if the
   * tool is safe to retry.
   */
  async #resume(): Promise<Ending | undefined> {
    const unanswered = this.#unanswered;
    const decisions = new Map((this.#request.approvals ?? []).map((decision) => [decision.toolCallId, decision]));
    const outcomes: ToolCallOutcome[] = [];
    const forClient: ClientToolCall[] = [];
    for (const { toolCall, held } of unanswered) {
      const decision = decisions.get(toolCall.id);
      const tool = this.#tools.get(toolCall.name);
      if (tool?.clientSide && decision?.approved) {
        forClient.push(toClientCall(toolCall));
      } else if (tool?.clientSide && !decision && !held) {
        outcomes.push(notRun(toolCall, 'error', `Not run: "${toolCall.name}" runs on the client, and the client sent no result for this call.`));
      } else if (decision?.approved || (!decision && !held && tool?.retrySafe)) {
        this.#budget.takeToolCall(toolCall);
        outcomes.push(...(await this.#runAll([toolCall])));
      } else if (decision) {
        outcomes.push(notRun(toolCall, 'rejected', `Rejected by the approver${decision.reason ? `: ${decision.reason}` : '.'}`));
      } else if (held) {
        outcomes.push(notRun(toolCall, 'rejected', 'Not run: it was held for approval and no decision was given.'));
      } else {
        outcomes.push(
          notRun(toolCall, 'error', `Not run again: this call was interrupted before its result was recorded, and "${toolCall.name}" is not safe to retry.`),
        );
      }
    }
    const ending = await this.#recordOutcomes(outcomes);
    return ending ?? (forClient.length > 0 ? { status: 'tool_calls_required', pendingToolCalls: forClient } : undefined);
  }

  /** Records a step's results (one persist), emits them, and ends the run on a question or a stall. */
  async #recordOutcomes(outcomes: readonly ToolCallOutcome[]): Promise<Ending | undefined> {
    if (outcomes.length === 0) return undefined;
    const results = outcomes.map(({ execution }) =>
      this.#draft({
        type: 'tool_result',
        role: 'tool',
        content: execution.content,
        payload: { toolCallId: execution.toolCallId, toolName: execution.toolName, isError: execution.outcome !== 'success' },
      }),
    );
    const recording = this.#record(results);
    if (recording) await recording;
    let question: string | undefined;
    let stalled: ToolCall | undefined;
    for (let index = 0; index < outcomes.length; index += 1) {
      const outcome = outcomes[index] as ToolCallOutcome;
      this.#executions.push(outcome.execution);
      question ??= outcome.question;
      stalled ??= this.#budget.stalledCall(outcome.execution);
      if (!this.#observed) continue;
      const messageId = results[index]?.id ?? null;
      await this.#emit({ type: 'tool_result', index: this.#eventIndex++, messageId, execution: outcome.execution });
      if (outcome.truncated) {
        await this.#emit({ type: 'tool_result_truncated', index: this.#eventIndex++, messageId, toolCallId: outcome.execution.toolCallId, ...outcome.truncated });
      }
    }
    if (question !== undefined) {
      await this.#record([this.#draft({ type: 'input_required', role: 'assistant', content: question, payload: {} })]);
      return { status: 'input_required', question };
    }
    return stalled ? { status: 'stalled', repeatedCall: stalled } : undefined;
  }

  /** Runs calls at most `toolConcurrency` at once; outcomes come back in call order. */
  #runAll(calls: readonly ToolCall[]): Promise<ToolCallOutcome[]> {
    const environment: ToolCallEnvironment = {
      principal: this.#request.principal,
      signal: () => this.#signal,
      abortable: this.#abortRace,
      runtimeContext: this.#request.runtimeContext ?? {},
      granted: this.#request.granted,
      maxResultChars: this.#limits.maxToolResultChars,
    };
    const only = calls.length === 1 ? calls[0] : undefined;
    if (only) return executeToolCall(only, this.#tools.get(only.name), environment).then(inList);
    return this.#runPool(calls, environment);
  }

  async #runPool(calls: readonly ToolCall[], environment: ToolCallEnvironment): Promise<ToolCallOutcome[]> {
    const outcomes: ToolCallOutcome[] = new Array<ToolCallOutcome>(calls.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < calls.length) {
        const index = next++;
        const call = calls[index] as ToolCall;
        outcomes[index] = await executeToolCall(call, this.#tools.get(call.name), environment);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#limits.toolConcurrency, calls.length) }, worker));
    return outcomes;
  }

  /** Keeps tool-call ids unique within the conversation, whatever the model sends. */
  #uniqueCall(call: ToolCall): ToolCall {
    let id = call.id;
    for (let attempt = 2; this.#usedCallIds.has(id); attempt += 1) id = `${call.id}_${attempt}`;
    this.#usedCallIds.add(id);
    return id === call.id ? call : { ...call, id };
  }

  /** A new message of this run, with the run's metadata; the runner's options carry `generateId` and `now`. */
  #draft(draft: MessageDraft): AgentMessage {
    const message: AgentMessage = createMessage(draft, this.#options);
    const runMetadata = this.#request.metadata;
    // Set on the new message rather than spread into a copy of the draft, which costs more on Node 20.
    if (runMetadata !== undefined) message.metadata = { ...runMetadata, ...draft.metadata };
    return replaceNul(message);
  }

  /**
   * Appends messages, persists them as one write, then emits them. Nothing
   * to wait for (undefined) when there is no persister and nobody listens:
   * the loop's usual steps then skip the `await`, which would still cost a
   * turn of the microtask queue each.
   */
  #record(messages: readonly AgentMessage[]): Promise<void> | undefined {
    this.#messages.push(...messages);
    this.#produced.push(...messages);
    return this.#options.persister || this.#observed ? this.#persistAndEmit(messages) : undefined;
  }

  async #persistAndEmit(messages: readonly AgentMessage[]): Promise<void> {
    if (this.#options.persister) {
      try {
        await this.#options.persister.persist(messages, this.#state());
      } catch (error) {
        throw new PersistFailure(`Persisting the transcript failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    }
    if (this.#observed) for (const message of messages) await this.#emit({ type: 'message', index: this.#eventIndex++, messageId: message.id, message });
  }

  /**
   * Hands an event to the sinks and, when streaming, to the consumer, waiting
   * until it has taken it. Callers check `#observed` first, so that a run
   * nobody watches makes no events at all.
   */
  async #emit(event: ConversationEvent): Promise<void> {
    // No sinks (a stream's usual case): no async call and await of `deliver` on every event.
    if (this.#hasSinks) await this.deliver(event);
    await this.#consumer?.(event);
  }
}

const complete = { complete: true } as const;
const proceed: MediatorDecision = { action: 'proceed' };

function toClientCall(call: ToolCall): ClientToolCall {
  return { id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } };
}

function inList(outcome: ToolCallOutcome): ToolCallOutcome[] {
  return [outcome];
}

function notRun(call: ToolCall, outcome: ToolExecution['outcome'], content: string): ToolCallOutcome {
  return { execution: { toolCallId: call.id, toolName: call.name, arguments: parseLoosely(call.arguments), outcome, content } };
}

function parseLoosely(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
