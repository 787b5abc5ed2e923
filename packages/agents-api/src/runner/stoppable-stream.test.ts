import { describe, expect, it } from 'vitest';
import { testPrincipal } from '../../test/support/principals';
import { createMessage } from '../messages/message';
import { emptyUsage, type ModelProvider } from '../providers/model-provider';
import type { ConversationEvent, ConversationRequest, ConversationRunner, RunOptions } from './conversation-runner';
import { stoppableStream } from './stoppable-stream';
import { createToolLoopRunner } from './tool-loop-runner';

const request: ConversationRequest = { principal: testPrincipal(), messages: [createMessage({ type: 'text', role: 'user', content: 'Hi', payload: {} })] };

/** A model that answers only once its call's signal aborts, and says whether it was called. */
function waitingModel(): { readonly provider: ModelProvider; readonly called: () => boolean } {
  let called = false;
  const provider: ModelProvider = {
    name: 'waiting',
    complete: () => Promise.reject(new Error('not used')),
    async *stream(_request, options = {}) {
      called = true;
      await new Promise((resolve) => options.signal?.addEventListener('abort', resolve, { once: true }));
      options.signal?.throwIfAborted();
      yield { type: 'response', response: { content: '', toolCalls: [], usage: emptyUsage, model: 'm', finishReason: 'stop' } };
    },
  };
  return { provider, called: () => called };
}

async function lastEvent(events: AsyncIterable<ConversationEvent>): Promise<ConversationEvent | undefined> {
  let last: ConversationEvent | undefined;
  for await (const event of events) last = event;
  return last;
}

describe('stoppable stream', () => {
  it("stops the built-in loop's run while its model call waits: the run ends cancelled", async () => {
    const model = waitingModel();
    const run = stoppableStream(createToolLoopRunner({ provider: model.provider }), request, undefined);
    const ended = lastEvent(run.events);
    await expect.poll(model.called).toBe(true);
    run.stop();
    expect(await ended).toMatchObject({ type: 'run_end', result: { status: 'cancelled' } });
  });

  it("ends the built-in loop's run cancelled, with no model call, when it is stopped before its stream is read", async () => {
    const model = waitingModel();
    const run = stoppableStream(createToolLoopRunner({ provider: model.provider }), request, undefined);
    run.stop();
    expect(await lastEvent(run.events)).toMatchObject({ type: 'run_end', result: { status: 'cancelled' } });
    expect(model.called()).toBe(false);
  });

  it("follows the caller's signal for the built-in loop", async () => {
    const model = waitingModel();
    const caller = new AbortController();
    const run = stoppableStream(createToolLoopRunner({ provider: model.provider }), request, caller.signal);
    const ended = lastEvent(run.events);
    await expect.poll(model.called).toBe(true);
    caller.abort();
    expect(await ended).toMatchObject({ type: 'run_end', result: { status: 'cancelled' } });
  });

  it("gives any other runner a signal of its own that follows the caller's and aborts when stopped", async () => {
    const given: (AbortSignal | undefined)[] = [];
    const other: ConversationRunner = {
      run: () => Promise.reject(new Error('not used')),
      async *stream(_request: ConversationRequest, options?: RunOptions) {
        given.push(options?.signal);
        yield* [];
      },
    };
    const caller = new AbortController();
    const stopped = stoppableStream(other, request, caller.signal);
    await lastEvent(stopped.events);
    stopped.stop();
    expect(given[0]?.aborted).toBe(true);
    expect(caller.signal.aborted).toBe(false);

    const followed = stoppableStream(other, request, caller.signal);
    await lastEvent(followed.events);
    caller.abort('gone');
    expect(given[1]?.reason).toBe('gone');
    followed.unlink();
  });
});
