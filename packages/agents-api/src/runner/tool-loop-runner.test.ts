import { errorReply, startModelServer, textReply, toolCallReply, type ModelServer } from '@data-machine/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { testPrincipal } from '../../test/support/principals';
import { AgentsApiError } from '../errors';
import { createMessage, type AgentMessage } from '../messages/message';
import { emptyUsage, type ModelProvider } from '../providers/model-provider';
import { createOpenAIProvider } from '../providers/openai-provider';
import { defineTool } from '../tools/define-tool';
import type { AnyToolDefinition } from '../tools/tool';
import type { ConversationEvent, ConversationRequest, ConversationResult, ToolMediator } from './conversation-runner';
import { requestInput } from './input-request';
import { createToolLoopRunner, type ToolLoopRunnerOptions } from './tool-loop-runner';

const principal = testPrincipal();

const userSays = (content: string): AgentMessage => createMessage({ type: 'text', role: 'user', content, payload: {} });

const weather = defineTool({
  name: 'weather',
  description: 'The weather in a city',
  input: z.object({ city: z.string() }),
  retrySafe: true,
  execute: ({ city }) => `Sunny in ${city}`,
});

describe('tool loop runner', () => {
  let server: ModelServer;
  let runnerWith: (options?: Omit<ToolLoopRunnerOptions, 'provider'>) => ReturnType<typeof createToolLoopRunner>;
  const request = (overrides: Partial<ConversationRequest> = {}): ConversationRequest => ({
    instructions: 'You are helpful.',
    messages: [userSays('What is the weather in Paris?')],
    tools: [weather],
    principal,
    ...overrides,
  });

  beforeAll(async () => {
    server = await startModelServer();
    const provider = createOpenAIProvider({ apiKey: 'test-key', baseURL: server.baseURL, model: 'test-model', maxRetries: 0 });
    runnerWith = (options = {}) => createToolLoopRunner({ provider, ...options });
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.reset();
  });

  describe('turns and tools', () => {
    it('runs a two-turn tool conversation to completion', async () => {
      server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny in Paris.'));
      const result = await runnerWith().run(request());
      expect(result).toMatchObject({ status: 'completed', turns: 2, finalContent: 'It is sunny in Paris.' });
      expect(result.toolExecutions).toEqual([
        expect.objectContaining({ toolName: 'weather', arguments: { city: 'Paris' }, outcome: 'success', content: 'Sunny in Paris' }),
      ]);
      expect(result.messages.map((message) => message.type)).toEqual(['tool_call', 'tool_result', 'text']);
      expect(result.usage.totalTokens).toBeGreaterThan(0);
    });

    it('sends tool results to the model with role tool and the id of the call they answer, never as user', async () => {
      server.enqueue(toolCallReply({ id: 'call_w', name: 'weather', arguments: { city: 'Paris' } }), textReply('ok'));
      await runnerWith().run(request());
      const second = server.completionRequests().at(-1);
      const last = second?.messages.at(-1);
      expect(last).toEqual({ role: 'tool', tool_call_id: 'call_w', content: 'Sunny in Paris' });
      expect(second?.messages.filter((message) => message.role === 'user')).toHaveLength(1);
      expect(second?.messages[0]).toEqual({ role: 'system', content: 'You are helpful.' });
    });

    it('runs parallel tool calls at most toolConcurrency at once and answers them in call order', async () => {
      let inFlight = 0;
      let mostInFlight = 0;
      const slow = defineTool({
        name: 'slow',
        description: 'Takes a moment',
        input: z.object({ n: z.number() }),
        execute: async ({ n }) => {
          inFlight += 1;
          mostInFlight = Math.max(mostInFlight, inFlight);
          await new Promise((resolve) => setImmediate(resolve));
          inFlight -= 1;
          return `done ${n}`;
        },
      });
      server.enqueue(toolCallReply(...[1, 2, 3, 4, 5].map((n) => ({ name: 'slow', arguments: { n } }))), textReply('all done'));
      const result = await runnerWith().run(request({ tools: [slow], limits: { toolConcurrency: 2 } }));
      expect(mostInFlight).toBe(2);
      expect(result.toolExecutions.map((execution) => execution.content)).toEqual(['done 1', 'done 2', 'done 3', 'done 4', 'done 5']);
    });

    it('turns a tool that throws into an error tool message and goes on', async () => {
      const broken = defineTool({
        name: 'broken',
        description: 'Always fails',
        input: z.object({}),
        execute: () => {
          throw new Error('disk on fire');
        },
      });
      server.enqueue(toolCallReply({ name: 'broken', arguments: {} }), textReply('Sorry, that failed.'));
      const result = await runnerWith().run(request({ tools: [broken] }));
      expect(result.status).toBe('completed');
      expect(result.toolExecutions[0]).toMatchObject({ outcome: 'error', content: 'Error: "broken" failed: disk on fire' });
      expect(server.completionRequests().at(-1)?.messages.at(-1)).toMatchObject({ role: 'tool', content: 'Error: "broken" failed: disk on fire' });
    });

    it('answers unknown tools and invalid arguments with error tool messages', async () => {
      server.enqueue(
        toolCallReply({ name: 'teleport', arguments: {} }, { name: 'weather', arguments: { town: 'Paris' } }, { name: 'weather', arguments: '{not json' }),
        textReply('I could not do that.'),
      );
      const result = await runnerWith().run(request());
      expect(result.toolExecutions.map((execution) => [execution.outcome, execution.content])).toEqual([
        ['error', 'Error: there is no tool named "teleport".'],
        ['error', expect.stringMatching(/^Error: invalid arguments for "weather": city: /)],
        ['error', 'Error: the arguments for "weather" are not valid JSON.'],
      ]);
    });

    it('hands every tool the principal and runtime context of its own run, even when runs overlap', async () => {
      const seen: string[] = [];
      const whoAmI = defineTool({
        name: 'who_am_i',
        description: 'Reports the acting user',
        input: z.object({}),
        execute: async (_input, context) => {
          await new Promise((resolve) => setImmediate(resolve));
          seen.push(`${String(context.principal.userId)}:${String(context.runtimeContext.run)}`);
          return String(context.principal.userId);
        },
      });
      server.setHandler((completion) =>
        completion.messages.at(-1)?.role === 'tool'
          ? textReply(`you are ${String(completion.messages.at(-1)?.content)}`)
          : toolCallReply({ name: 'who_am_i', arguments: {} }),
      );
      const runner = runnerWith();
      const [alice, bob] = await Promise.all([
        runner.run(request({ tools: [whoAmI], principal: { ...principal, userId: 'alice' }, runtimeContext: { run: 'a' } })),
        runner.run(request({ tools: [whoAmI], principal: { ...principal, userId: 'bob' }, runtimeContext: { run: 'b' } })),
      ]);
      expect(alice.finalContent).toBe('you are alice');
      expect(bob.finalContent).toBe('you are bob');
      expect([...seen].sort()).toEqual(['alice:a', 'bob:b']);
    });

    it("stamps every message the run makes with the request's metadata", async () => {
      server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('Sunny.'));
      const result = await runnerWith().run(request({ metadata: { job: 'job-1' } }));
      expect(result.messages.map((message) => message.metadata)).toEqual([{ job: 'job-1' }, { job: 'job-1' }, { job: 'job-1' }]);
      expect(new Set(result.messages.map((message) => message.id)).size).toBe(3);
    });

    it('gives a tool a signal even when nothing can abort the run: one per run, never fired', async () => {
      const signals: AbortSignal[] = [];
      const watch = defineTool({
        name: 'watch',
        description: 'Keeps the signal it is given',
        input: z.object({}),
        execute: (_input, { signal }) => {
          signals.push(signal);
          return 'watched';
        },
      });
      server.setHandler((completion) => (completion.messages.at(-1)?.role === 'tool' ? textReply('done') : toolCallReply({ name: 'watch', arguments: {} })));
      const runner = runnerWith();
      await runner.run(request({ tools: [watch] }));
      await runner.run(request({ tools: [watch] }));
      expect(signals).toHaveLength(2);
      expect(signals.every((signal) => signal instanceof AbortSignal && !signal.aborted)).toBe(true);
      // A tool that leaves a listener behind leaves it on its own run's signal only.
      expect(signals[0]).not.toBe(signals[1]);
    });

    it('keeps tool-call ids unique within the conversation when the model repeats them', async () => {
      server.enqueue(
        toolCallReply({ id: 'call_0', name: 'weather', arguments: { city: 'Paris' } }),
        toolCallReply({ id: 'call_0', name: 'weather', arguments: { city: 'Rome' } }),
        textReply('done'),
      );
      const result = await runnerWith().run(request());
      const ids = result.messages.flatMap((message) => (message.type === 'tool_call' ? message.payload.toolCalls.map((call) => call.id) : []));
      expect(ids).toEqual(['call_0', 'call_0_2']);
      const answered = result.messages.flatMap((message) => (message.type === 'tool_result' ? [message.payload.toolCallId] : []));
      expect(answered).toEqual(['call_0', 'call_0_2']);
    });

    it('ends as input_required when a tool asks the user a question', async () => {
      const ask = defineTool({ name: 'ask', description: 'Asks the user', input: z.object({}), execute: () => requestInput('Which Paris?') });
      server.enqueue(toolCallReply({ name: 'ask', arguments: {} }));
      const result = await runnerWith().run(request({ tools: [ask] }));
      expect(result).toMatchObject({ status: 'input_required', question: 'Which Paris?' });
      expect(result.messages.at(-1)).toMatchObject({ type: 'input_required', content: 'Which Paris?' });
    });

    it('fails with the provider error code when the model call fails', async () => {
      server.enqueue(errorReply(500));
      const result = await runnerWith().run(request());
      expect(result).toMatchObject({ status: 'failed', failure: { code: 'provider.unavailable' } });
    });
  });

  describe('budgets', () => {
    const alwaysCallsTools = (): void =>
      server.setHandler((completion) => toolCallReply({ name: 'weather', arguments: { city: `city ${completion.messages.length}` } }));

    it('stops after 10 turns by default', async () => {
      alwaysCallsTools();
      const result = await runnerWith().run(request());
      expect(result).toMatchObject({ status: 'budget_exceeded', budget: 'turns', turns: 10 });
    });

    it('stops when the total tool-call budget is spent, answering the calls it did not run', async () => {
      server.enqueue(toolCallReply(...['a', 'b', 'c'].map((city) => ({ name: 'weather', arguments: { city } }))));
      const result = await runnerWith().run(request({ limits: { maxToolCalls: 2 } }));
      expect(result).toMatchObject({ status: 'budget_exceeded', budget: 'tool_calls' });
      expect(result.toolExecutions.map((execution) => execution.outcome)).toEqual(['success', 'success', 'error']);
      expect(result.toolExecutions[2]?.content).toBe('Not run: the tool-call budget of this run is spent.');
    });

    it('stops when one tool has been called its maximum number of times', async () => {
      alwaysCallsTools();
      const result = await runnerWith().run(request({ limits: { maxCallsPerTool: 2 } }));
      expect(result).toMatchObject({ status: 'budget_exceeded', budget: 'tool_calls_per_tool', turns: 3 });
    });

    it('warns at 80 % of the token budget and stops when it is spent', async () => {
      server.setHandler(() => ({ ...toolCallReply({ name: 'weather', arguments: { city: 'x' } }), usage: { promptTokens: 30, completionTokens: 10 } }));
      const events: ConversationEvent[] = [];
      const runner = runnerWith({ sinks: [{ onEvent: (event) => void events.push(event) }] });
      const result = await runner.run(request({ limits: { maxTokens: 100, maxRepeatedFailures: 99 } }));
      expect(result).toMatchObject({ status: 'budget_exceeded', budget: 'tokens', turns: 3 });
      expect(events.filter((event) => event.type === 'budget_warning')).toEqual([expect.objectContaining({ type: 'budget_warning', budget: 'tokens', used: 80, limit: 100 })]);
    });

    it('stops on the wall clock', async () => {
      server.enqueue(textReply('too late', { delayMs: 10_000 }));
      const result = await runnerWith().run(request({ limits: { timeoutMs: 50 } }));
      expect(result).toMatchObject({ status: 'budget_exceeded', budget: 'wall_clock' });
    });

    it('truncates a long tool result and says so in an event', async () => {
      const verbose = defineTool({ name: 'verbose', description: 'Talks a lot', input: z.object({}), execute: () => 'x'.repeat(1000) });
      server.enqueue(toolCallReply({ name: 'verbose', arguments: {} }), textReply('ok'));
      const events: ConversationEvent[] = [];
      for await (const event of runnerWith().stream(request({ tools: [verbose], limits: { maxToolResultChars: 100 } }))) events.push(event);
      const truncated = events.find((event) => event.type === 'tool_result_truncated');
      expect(truncated).toMatchObject({ originalLength: 1000, keptLength: 100 });
      const sent = server.completionRequests().at(-1)?.messages.at(-1)?.content;
      expect(String(sent)).toMatch(/\[truncated \d+ more characters\]$/);
      expect(String(sent).length).toBe(100);
    });

    it('ends as stalled when the same failing call repeats', async () => {
      server.setHandler(() => toolCallReply({ name: 'weather', arguments: { town: 'Nowhere' } }));
      const result = await runnerWith().run(request());
      expect(result).toMatchObject({ status: 'stalled', turns: 3, repeatedCall: { name: 'weather', arguments: '{"town":"Nowhere"}' } });
    });

    it('ends as stalled when the same failing call repeats within one step of parallel calls', async () => {
      const nowhere = { name: 'weather', arguments: { town: 'Nowhere' } };
      server.enqueue(toolCallReply(nowhere, nowhere, nowhere));
      const result = await runnerWith().run(request());
      expect(result).toMatchObject({ status: 'stalled', turns: 1, repeatedCall: { name: 'weather', arguments: '{"town":"Nowhere"}' } });
    });

    it('counts only failures in a row: a success in between starts the count again', async () => {
      const nowhere = { name: 'weather', arguments: { town: 'Nowhere' } };
      server.enqueue(toolCallReply(nowhere, nowhere, { name: 'weather', arguments: { city: 'Paris' } }, nowhere, nowhere), textReply('Some worked.'));
      const result = await runnerWith().run(request());
      expect(result).toMatchObject({ status: 'completed', turns: 2 });
      expect(result.toolExecutions.map((execution) => execution.outcome)).toEqual(['error', 'error', 'success', 'error', 'error']);
    });
  });

  describe('cancellation', () => {
    it('ends as cancelled when the signal aborts during a model call', async () => {
      server.enqueue(textReply('late', { delayMs: 10_000 }));
      const controller = new AbortController();
      const running = runnerWith().run(request(), { signal: controller.signal });
      await waitFor(() => server.completionRequests().length > 0);
      controller.abort();
      expect((await running).status).toBe('cancelled');
    });

    it('ends as cancelled within the step when the signal aborts while a tool runs', async () => {
      const controller = new AbortController();
      let toolStarted = false;
      let toolSignal: AbortSignal | undefined;
      const hang = defineTool({
        name: 'hang',
        description: 'Never finishes by itself',
        input: z.object({}),
        execute: (_input, context) =>
          new Promise((_resolve, reject) => {
            toolStarted = true;
            toolSignal = context.signal;
            context.signal.addEventListener('abort', () => reject(new Error('stopped')));
          }),
      });
      server.enqueue(toolCallReply({ name: 'hang', arguments: {} }));
      const running = runnerWith().run(request({ tools: [hang] }), { signal: controller.signal });
      await waitFor(() => toolStarted);
      controller.abort();
      const result = await running;
      expect(result.status).toBe('cancelled');
      expect(result.turns).toBe(1);
      expect(toolSignal?.aborted).toBe(true);
    });

    it('ends as cancelled when the signal aborts while a tool that ignores it hangs', async () => {
      const controller = new AbortController();
      let toolStarted = false;
      const deaf = defineTool({
        name: 'deaf',
        description: 'Never finishes and never listens',
        input: z.object({}),
        execute: () => {
          toolStarted = true;
          return new Promise<string>(() => undefined);
        },
      });
      server.enqueue(toolCallReply({ name: 'deaf', arguments: {} }));
      const running = runnerWith().run(request({ tools: [deaf] }), { signal: controller.signal });
      await waitFor(() => toolStarted);
      controller.abort();
      expect((await running).status).toBe('cancelled');
    });

    it('ends as cancelled when a tool answers at once but the signal aborted while it ran', async () => {
      const controller = new AbortController();
      const quitter = defineTool({
        name: 'quitter',
        description: 'Aborts the run, then answers',
        input: z.object({}),
        execute: () => {
          controller.abort();
          return 'done';
        },
      });
      server.enqueue(toolCallReply({ name: 'quitter', arguments: {} }), textReply('never asked'));
      const result = await runnerWith().run(request({ tools: [quitter] }), { signal: controller.signal });
      expect(result.status).toBe('cancelled');
      expect(server.completionRequests()).toHaveLength(1);
    });

    it('ends as cancelled when the signal aborts during a model call of a provider that ignores it', async () => {
      let called = false;
      const deafProvider: ModelProvider = {
        name: 'deaf',
        complete: () => {
          called = true;
          return new Promise(() => undefined);
        },
        stream: () => {
          throw new Error('not streamed here');
        },
      };
      const controller = new AbortController();
      const running = createToolLoopRunner({ provider: deafProvider }).run(request(), { signal: controller.signal });
      await waitFor(() => called);
      controller.abort();
      expect((await running).status).toBe('cancelled');
    });
  });

  describe('seams', () => {
    it('lets a completion policy keep the run going until a tool was called', async () => {
      const mustLookUp = {
        check: (state: { toolExecutions: readonly { toolName: string }[] }) =>
          state.toolExecutions.some((execution) => execution.toolName === 'weather')
            ? ({ complete: true } as const)
            : ({ complete: false, nudge: 'Check the weather tool before answering.' } as const),
      };
      server.enqueue(textReply('Probably sunny.'), toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('Sunny, checked.'));
      const result = await runnerWith({ completionPolicy: mustLookUp }).run(request());
      expect(result).toMatchObject({ status: 'completed', turns: 3, finalContent: 'Sunny, checked.' });
      expect(server.completionRequests().at(-2)?.messages.at(-1)).toEqual({ role: 'system', content: 'Check the weather tool before answering.' });
    });

    it('lets the mediator reject or replace a call instead of running it', async () => {
      let ran = 0;
      const counted = defineTool({ name: 'counted', description: 'Counts runs', input: z.object({ n: z.number() }), execute: () => ++ran });
      const mediator = {
        mediate: (call: { arguments: string }) =>
          call.arguments.includes('1') ? ({ action: 'reject', reason: 'not allowed' } as const) : ({ action: 'replace', content: 'cached answer' } as const),
      };
      server.enqueue(toolCallReply({ name: 'counted', arguments: { n: 1 } }, { name: 'counted', arguments: { n: 2 } }), textReply('ok'));
      const result = await runnerWith({ mediator }).run(request({ tools: [counted] }));
      expect(ran).toBe(0);
      expect(result.toolExecutions.map((execution) => [execution.outcome, execution.content])).toEqual([
        ['rejected', 'Rejected: not allowed'],
        ['replaced', 'cached answer'],
      ]);
    });

    it('takes a mediator that answers nothing (as JavaScript may) as proceed', async () => {
      // @ts-expect-error a mediator answers with a decision; a JavaScript one may return nothing
      const mediator: ToolMediator = { mediate: () => undefined };
      server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('ok'));
      const result = await runnerWith({ mediator }).run(request());
      expect(result.status).toBe('completed');
      expect(result.toolExecutions).toEqual([expect.objectContaining({ outcome: 'success', content: 'Sunny in Paris' })]);
    });

    it('holds a call for approval, and a later run executes it once approved', async () => {
      let sent = 0;
      const send = defineTool({ name: 'send_email', description: 'Sends an email', input: z.object({ to: z.string() }), writes: true, execute: () => `sent #${++sent}` });
      const mediator = { mediate: () => ({ action: 'hold', reason: 'Emails need approval' }) as const };
      server.enqueue(toolCallReply({ id: 'call_mail', name: 'send_email', arguments: { to: 'a@example.com' } }));
      const first = await runnerWith({ mediator }).run(request({ tools: [send] }));
      expect(first).toMatchObject({ status: 'approval_required', pending: [{ toolCall: { id: 'call_mail', name: 'send_email' }, reason: 'Emails need approval' }] });
      expect(sent).toBe(0);

      server.enqueue(textReply('Email sent.'));
      const history = [...request().messages, ...first.messages];
      const second = await runnerWith().run(request({ tools: [send], messages: history, approvals: [{ toolCallId: 'call_mail', approved: true }] }));
      expect(second).toMatchObject({ status: 'completed', finalContent: 'Email sent.' });
      expect(sent).toBe(1);
      expect(second.messages[0]).toMatchObject({ type: 'tool_result', content: 'sent #1', payload: { toolCallId: 'call_mail' } });
    });

    it('answers a rejected approval without running the call', async () => {
      let sent = 0;
      const send = defineTool({ name: 'send_email', description: 'Sends an email', input: z.object({ to: z.string() }), execute: () => ++sent });
      server.enqueue(toolCallReply({ id: 'call_no', name: 'send_email', arguments: { to: 'b@example.com' } }));
      const first = await runnerWith({ mediator: { mediate: () => ({ action: 'hold', reason: 'check' }) } }).run(request({ tools: [send] }));
      server.enqueue(textReply('Not sent.'));
      const second = await runnerWith().run(
        request({ tools: [send], messages: [...request().messages, ...first.messages], approvals: [{ toolCallId: 'call_no', approved: false, reason: 'wrong person' }] }),
      );
      expect(sent).toBe(0);
      expect(second.toolExecutions).toEqual([expect.objectContaining({ outcome: 'rejected', content: 'Rejected by the approver: wrong person' })]);
    });

    it('persists each tool step in two writes: the calls, then all their results', async () => {
      const writes: string[][] = [];
      const persister = { persist: async (messages: readonly AgentMessage[]) => void writes.push(messages.map((message) => message.type)) };
      server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'a' } }, { name: 'weather', arguments: { city: 'b' } }), textReply('done'));
      await runnerWith({ persister }).run(request());
      expect(writes).toEqual([['tool_call'], ['tool_result', 'tool_result'], ['text']]);
    });

    it('fails the run with runner.persist_failed when persisting fails', async () => {
      const persister = { persist: async () => Promise.reject(new Error('database gone')) };
      server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'a' } }));
      const result = await runnerWith({ persister }).run(request());
      expect(result).toMatchObject({ status: 'failed', failure: { code: 'runner.persist_failed', message: 'Persisting the transcript failed: database gone' } });
    });

    it('never lets an event sink that throws or rejects break the run', async () => {
      const reported: string[] = [];
      const sinks = [
        { onEvent: () => { throw new Error('sync observer bug'); } },
        { onEvent: async () => Promise.reject(new Error('async observer bug')) },
      ];
      server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('fine'));
      const result = await runnerWith({ sinks, onSinkError: (error) => reported.push((error as Error).message) }).run(request());
      expect(result.status).toBe('completed');
      expect(reported).toContain('sync observer bug');
      expect(reported).toContain('async observer bug');
    });

    it('tells a sink every event of a run, in order', async () => {
      const seen: string[] = [];
      const sink = { onEvent: (event: ConversationEvent) => void seen.push(event.type === 'message' ? `message:${event.message.type}` : event.type) };
      server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny.'));
      await runnerWith({ sinks: [sink] }).run(request());
      expect(seen).toEqual([
        'turn_start',
        'message:tool_call',
        'tool_call',
        'message:tool_result',
        'tool_result',
        'turn_start',
        'message:text',
        'run_end',
      ]);
    });

    it('streams deltas, tool events and messages, and ends with the run result', async () => {
      server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny.'));
      const events: ConversationEvent[] = [];
      for await (const event of runnerWith().stream(request())) events.push(event);
      const types = events.map((event) => event.type);
      expect(types[0]).toBe('turn_start');
      expect(types).toEqual(expect.arrayContaining(['tool_call', 'tool_result', 'message', 'text_delta']));
      expect(events.filter((event) => event.type === 'text_delta').map((event) => (event as { text: string }).text).join('')).toBe('It is sunny.');
      const end = events.at(-1) as Extract<ConversationEvent, { type: 'run_end' }>;
      expect(end.type).toBe('run_end');
      expect(end.result).toMatchObject({ status: 'completed', finalContent: 'It is sunny.' });
    });

    it('numbers the events of a run 0, 1, 2… and names the message each belongs to', async () => {
      server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('It is sunny.'));
      const events: ConversationEvent[] = [];
      for await (const event of runnerWith().stream(request())) events.push(event);
      expect(events.map((event) => event.index)).toEqual(events.map((_, position) => position));
      const end = events.at(-1) as Extract<ConversationEvent, { type: 'run_end' }>;
      const [call, result, answer] = end.result.messages;
      const belongs = (type: ConversationEvent['type']) => [...new Set(events.filter((event) => event.type === type).map((event) => event.messageId))];
      expect(belongs('tool_call')).toEqual([call?.id]);
      expect(belongs('tool_result')).toEqual([result?.id]);
      // The deltas name the assistant message before it exists: its id is chosen before the model call.
      expect(belongs('text_delta')).toEqual([answer?.id]);
      expect(belongs('turn_start')).toEqual([call?.id, answer?.id]);
      expect(events.filter((event) => event.type === 'message').map((event) => event.messageId)).toEqual([call?.id, result?.id, answer?.id]);
      expect(end.messageId).toBe(answer?.id);
    });

    it('gives run_end no message when the run produced none', async () => {
      const events: ConversationEvent[] = [];
      server.enqueue(errorReply(400));
      for await (const event of runnerWith().stream(request())) events.push(event);
      expect(events.at(-1)).toMatchObject({ type: 'run_end', index: events.length - 1, messageId: null, result: { status: 'failed' } });
    });

    it("streams a tool call's argument deltas as the provider yields them, on the call message", async () => {
      // A loop-level unit: the fake provider yields tool-call deltas, which the OpenAI provider does not produce yet.
      const fake: ModelProvider = {
        name: 'fake',
        complete: () => Promise.reject(new Error('not used')),
        async *stream(modelRequest) {
          const answered = modelRequest.messages.at(-1)?.type === 'tool_result';
          if (answered) {
            yield { type: 'text_delta', text: 'Sunny.' };
            yield { type: 'response', response: { content: 'Sunny.', toolCalls: [], finishReason: 'stop', usage: emptyUsage, model: 'fake' } };
            return;
          }
          yield { type: 'tool_call_delta', index: 0, toolCallId: 'call_a', toolName: 'weather', argumentsDelta: '{"city":' };
          yield { type: 'tool_call_delta', index: 0, argumentsDelta: '"Paris"}' };
          const toolCalls = [{ id: 'call_a', name: 'weather', arguments: '{"city":"Paris"}' }];
          yield { type: 'response', response: { content: null, toolCalls, finishReason: 'tool_calls', usage: emptyUsage, model: 'fake' } };
        },
      };
      const events: ConversationEvent[] = [];
      for await (const event of createToolLoopRunner({ provider: fake }).stream(request())) events.push(event);
      const deltas = events.filter((event) => event.type === 'tool_call_delta');
      const callMessage = events.find((event) => event.type === 'message' && event.message.type === 'tool_call');
      expect(deltas).toEqual([
        expect.objectContaining({ toolCallIndex: 0, toolCallId: 'call_a', toolName: 'weather', argumentsDelta: '{"city":' }),
        expect.objectContaining({ toolCallIndex: 0, argumentsDelta: '"Paris"}' }),
      ]);
      expect(deltas.map((event) => event.messageId)).toEqual([callMessage?.messageId, callMessage?.messageId]);
      expect(events.at(-1)).toMatchObject({ type: 'run_end', result: { status: 'completed', finalContent: 'Sunny.' } });
    });
  });

  describe('the acting context', () => {
    const publish = defineTool({
      name: 'publish',
      description: 'Publishes a post',
      input: z.object({}),
      capability: 'publish',
      execute: () => {
        published += 1;
        return 'published';
      },
    });
    let published = 0;
    beforeEach(() => {
      published = 0;
    });

    it('refuses a tool whose capability the ceiling denies, even when the host did not filter it out', async () => {
      server.enqueue(toolCallReply({ name: 'publish', arguments: {} }), textReply('I may not publish.'));
      const denied = testPrincipal({ ceiling: { allowed: 'unrestricted', denied: ['publish'] } });
      const result = await runnerWith().run(request({ tools: [publish], principal: denied }));
      expect(published).toBe(0);
      expect(result.toolExecutions).toMatchObject([{ toolName: 'publish', outcome: 'rejected' }]);
      expect(result.toolExecutions[0]?.content).toMatch(/^Not permitted/);
    });

    it('checks the grants as well when the host passes them', async () => {
      server.enqueue(toolCallReply({ name: 'publish', arguments: {} }), textReply('No.'), toolCallReply({ name: 'publish', arguments: {} }), textReply('Done.'));
      const refused = await runnerWith().run(request({ tools: [publish], granted: ['chat'] }));
      expect(refused.toolExecutions[0]?.outcome).toBe('rejected');
      const allowed = await runnerWith().run(request({ tools: [publish], granted: ['chat', 'publish'] }));
      expect(allowed.toolExecutions[0]?.outcome).toBe('success');
      expect(published).toBe(1);
    });
  });

  describe('seams that fail', () => {
    it('ends as failed with runner.seam_failed when a seam throws a plain error, and still tells the sinks', async () => {
      server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }));
      const ends: ConversationResult[] = [];
      const mediator = {
        mediate: () => {
          throw new Error('mediator bug');
        },
      };
      const result = await runnerWith({ mediator, sinks: [{ onEvent: (event) => void (event.type === 'run_end' && ends.push(event.result)) }] }).run(request());
      expect(result).toMatchObject({ status: 'failed', failure: { code: 'runner.seam_failed', message: expect.stringContaining('mediator bug') } });
      expect(ends).toHaveLength(1);
    });
  });

  describe('streaming', () => {
    it('waits for the consumer: nothing runs ahead of the event being handled', async () => {
      server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('Sunny.'));
      let seenBySink = 0;
      let seenByConsumer = 0;
      const runner = runnerWith({ sinks: [{ onEvent: () => void (seenBySink += 1) }] });
      for await (const _event of runner.stream(request())) {
        seenByConsumer += 1;
        // Give the loop every chance to run ahead while this event is being handled.
        for (let turn = 0; turn < 5; turn += 1) await new Promise(setImmediate);
        expect(seenBySink).toBe(seenByConsumer);
      }
      expect(seenByConsumer).toBeGreaterThan(5);
    });

    it('cancels the run when the consumer stops, and still tells the sinks how it ended', async () => {
      server.enqueue(toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }), textReply('never asked for'));
      const ends: ConversationResult[] = [];
      const runner = runnerWith({ sinks: [{ onEvent: (event) => void (event.type === 'run_end' && ends.push(event.result)) }] });
      for await (const event of runner.stream(request())) {
        if (event.type === 'tool_call') break;
      }
      expect(ends.map((result) => result.status)).toEqual(['cancelled']);
      expect(server.completionRequests()).toHaveLength(1);
    });

    it('throws an invalid request from the first step of the iteration', async () => {
      const iterator = runnerWith().stream(request({ limits: { maxTurns: -1 } }))[Symbol.asyncIterator]();
      await expect(iterator.next()).rejects.toMatchObject({ code: 'runner.invalid_request' });
      expect(server.completionRequests()).toHaveLength(0);
    });
  });

  describe('resuming an interrupted step', () => {
    const interrupted = (name: string, id: string): AgentMessage[] => [
      userSays('go'),
      createMessage({ type: 'tool_call', role: 'assistant', content: '', payload: { toolCalls: [{ id, name, arguments: '{"city":"Oslo"}' }] } }),
    ];

    it('re-runs an unanswered call whose tool is safe to retry', async () => {
      server.enqueue(textReply('Sunny in Oslo.'));
      const result = await runnerWith().run(request({ messages: interrupted('weather', 'call_r') }));
      expect(result.toolExecutions).toEqual([expect.objectContaining({ toolCallId: 'call_r', outcome: 'success', content: 'Sunny in Oslo' })]);
    });

    it('answers an unanswered call of an unsafe tool with a durability error instead of running it again', async () => {
      let charged = 0;
      const charge = defineTool({ name: 'charge', description: 'Charges a card', input: z.object({ city: z.string() }), writes: true, execute: () => ++charged });
      server.enqueue(textReply('I will check the charge.'));
      const result = await runnerWith().run(request({ tools: [charge], messages: interrupted('charge', 'call_c') }));
      expect(charged).toBe(0);
      expect(result.toolExecutions[0]?.content).toMatch(/^Not run again: this call was interrupted/);
    });
  });

  describe('invalid requests', () => {
    const refusal = async (overrides: Partial<ConversationRequest>): Promise<unknown> =>
      runnerWith().run(request(overrides)).then(
        (result: ConversationResult) => result,
        (error: unknown) => error,
      );

    it('refuses a request without a valid principal', async () => {
      const error = await refusal({ principal: { ...principal, agentSlug: '' } });
      expect(AgentsApiError.isInstance(error) && error.code).toBe('runner.invalid_request');
    });

    it('refuses two tools with one name', async () => {
      const error = await refusal({ tools: [weather, weather as AnyToolDefinition] });
      expect(error).toMatchObject({ code: 'runner.invalid_request', message: 'Two tools are named "weather"' });
    });

    it('refuses a limit that is not a positive whole number', async () => {
      expect(await refusal({ limits: { maxTurns: 0 } })).toMatchObject({ code: 'runner.invalid_request' });
    });

    it('refuses a conversation in which a tool-call id repeats', async () => {
      const call = (id: string): AgentMessage =>
        createMessage({ type: 'tool_call', role: 'assistant', content: '', payload: { toolCalls: [{ id, name: 'weather', arguments: '{"city":"Oslo"}' }] } });
      const answer = (id: string): AgentMessage =>
        createMessage({ type: 'tool_result', role: 'tool', content: 'ok', payload: { toolCallId: id, toolName: 'weather', isError: false } });
      const error = await refusal({ messages: [userSays('a'), call('c1'), answer('c1'), userSays('b'), call('c1'), answer('c1')] });
      expect(error).toMatchObject({ code: 'runner.invalid_request', details: { toolCallId: 'c1' } });
    });

    it('refuses an approval for a call nothing is waiting on', async () => {
      expect(await refusal({ approvals: [{ toolCallId: 'call_ghost', approved: true }] })).toMatchObject({ code: 'runner.invalid_request' });
    });
  });
});

async function waitFor(condition: () => boolean, deadlineMs = 5_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((resolve) => setImmediate(resolve));
  }
}
