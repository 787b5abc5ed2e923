import type { AgentMessage } from '../messages/message';
import type { TranscriptPersister } from '../runner/conversation-runner';

/**
 * A persister that holds back a run's possible last answer, so the stream
 * can store it with the run's ending and the lease's release in one
 * statement (an append's `endRun`) instead of two. See
 * docs/decisions/2026-11-30-durable-streaming.md, "Cost".
 */
export interface LastWrite {
  readonly persister: TranscriptPersister;
  /** Whether the message waits to be written with the run's end. */
  holds(messageId: string): boolean;
  /** Whether the message was held and has since been written by a later write. */
  written(messageId: string): boolean;
  /** The held messages, taken out: the caller writes them with the run's end. */
  take(): readonly AgentMessage[];
}

/**
 * Wraps `inner`: a write of one assistant text message alone (an answer,
 * after which a run usually ends) is held, and resolves at once; any later
 * write stores it first, so the transcript keeps its order. The stream holds
 * the message's event back until it is stored, so a consumer is never sent a
 * message whole that is not stored.
 */
export function holdingLastAnswer(inner: TranscriptPersister): LastWrite {
  let held: readonly AgentMessage[] = [];
  const flushed = new Set<string>();
  return {
    persister: {
      async persist(messages, state) {
        if (held.length > 0) {
          const earlier = held;
          held = [];
          await inner.persist(earlier, state);
          for (const message of earlier) flushed.add(message.id);
        }
        if (isAnswer(messages)) held = messages;
        else await inner.persist(messages, state);
      },
    },
    holds: (messageId) => held.some((message) => message.id === messageId),
    written: (messageId) => flushed.has(messageId),
    take() {
      const taken = held;
      held = [];
      return taken;
    },
  };
}

function isAnswer(messages: readonly AgentMessage[]): boolean {
  const [only] = messages;
  return messages.length === 1 && only !== undefined && only.type === 'text' && only.role === 'assistant';
}
