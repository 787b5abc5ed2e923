import type { ModelProvider } from '../providers/model-provider';
import type { CompletionPolicy, ConversationEvent, EventSink, ToolMediator, TranscriptPersister } from './conversation-runner';

/** What the built-in loop is made of; only `provider` is required. */
export interface ToolLoopRunnerOptions {
  readonly provider: ModelProvider;
  readonly completionPolicy?: CompletionPolicy;
  readonly mediator?: ToolMediator;
  readonly persister?: TranscriptPersister;
  readonly sinks?: readonly EventSink[];
  /** Told when a sink throws; the run goes on either way. */
  readonly onSinkError?: (error: unknown, event: ConversationEvent) => void;
  /** Ids of new messages; by default `msg_` and 128 random bits. */
  readonly generateId?: () => string;
  readonly now?: () => Date;
}
