// The public API of @data-machine/agents-api. Every export is named here on
// purpose: a reader sees the whole surface in one file, and nothing leaks by accident.
// This entry is vendor-free: it needs only `zod`. The OpenAI provider lives at
// `./openai`, the Postgres stores and migrations at `./postgres`, what a store author
// needs at `./store-kit` and the contract suites at `./testing` (see those entries).

// errors
export { AgentsApiError, agentsApiErrorCodes } from './errors';
export type { AgentsApiErrorCode, AgentsApiErrorOptions } from './errors';
export { isRetryableCode } from './errors';

// agent definitions and the registry
export {
  agentDefinitionSchema,
  agentRuntimeOverridesSchema,
  agentSlugPattern,
  agentSlugSchema,
  defineAgent,
  maxMemoryFileNameLength,
  memoryFileNamePattern,
  memoryFileNameSchema,
} from './registry/agent-definition';
export type { AgentDefinition, AgentDefinitionInput, AgentRuntimeOverrides } from './registry/agent-definition';
export { createAgentRegistry } from './registry/agent-registry';
export type {
  AgentRegistrar,
  AgentRegistrationCallback,
  AgentRegistrationOptions,
  AgentRegistry,
  AgentRegistryStatus,
} from './registry/agent-registry';

// the message envelope
export {
  agentMessageSchema,
  approvalRequiredMessageSchema,
  createMessage,
  inputRequiredMessageSchema,
  messageSchemaName,
  messageSchemaVersion,
  modelVisibleMessageTypes,
  parseMessage,
  textMessageSchema,
  toolCallMessageSchema,
  toolCallSchema,
  toolResultMessageSchema,
} from './messages/message';
export type {
  AgentMessage,
  ApprovalRequiredMessage,
  InputRequiredMessage,
  MessageDraft,
  MessageFactoryOptions,
  MessageRole,
  MessageType,
  TextMessage,
  ToolCall,
  ToolCallMessage,
  ToolResultMessage,
} from './messages/message';

// model providers
export { addUsage, countedTokens, emptyUsage } from './providers/model-provider';
export type {
  ModelCallOptions,
  ModelFinishReason,
  ModelProvider,
  ModelRequest,
  ModelResponse,
  ModelResponseFormat,
  ModelStreamEvent,
  ModelToolChoice,
  ModelToolSpec,
  ModelUsage,
} from './providers/model-provider';
export { completeOnce } from './providers/complete-once';
export type { CompleteOnceRequest, CompleteOnceResult } from './providers/complete-once';

// tools and tool policy
export { toolNamePattern } from './tools/tool';
export type { AnyToolDefinition, ToolDefinition, ToolExecutionContext } from './tools/tool';
export { defineTool, toolInputJsonSchema } from './tools/define-tool';
export type { ToolDefinitionField } from './tools/define-tool';
export { toModelToolSpec } from './tools/model-tool-spec';
export { resolveToolSources } from './tools/tool-source';
export type { ResolvedTools, ToolClash, ToolSource, ToolSourceContext } from './tools/tool-source';
export { toolPolicySchema } from './tools/tool-policy';
export type { ToolPolicy } from './tools/tool-policy';
export { filterTools } from './tools/filter-tools';
export type { FilteredTools, FilterToolsOptions, ToolExclusion, ToolExclusionReason } from './tools/filter-tools';

// the acting context and the permission ceiling
export {
  authSources,
  capabilityCeilingSchema,
  maxCallerChainDepth,
  principalSchema,
  requestContexts,
} from './permissions/principal';
export type { AuthSource, CapabilityCeiling, Principal, RequestContext } from './permissions/principal';
export { can, ceilingAllows, isAutonomous } from './permissions/can';
export { createPrincipal, intersectCeilings, isValidPrincipal, principalDefaults, principalForSubagent } from './permissions/caller-chain';
export type { PrincipalInput, SubagentCallOptions } from './permissions/caller-chain';

// the conversation runner and the built-in tool loop
export type {
  ApprovalDecision,
  BudgetName,
  ClientToolCall,
  CompletionPolicy,
  ConversationEvent,
  ConversationLimits,
  ConversationRequest,
  ConversationResult,
  ConversationRunner,
  ConversationStatus,
  EventSink,
  MediatorDecision,
  PendingApproval,
  RunFailure,
  RunOptions,
  RunState,
  ToolExecution,
  ToolMediator,
  TranscriptPersister,
} from './runner/conversation-runner';
export { createToolLoopRunner } from './runner/tool-loop-runner';
export type { ToolLoopRequest, ToolLoopRunner, ToolLoopRunnerOptions } from './runner/tool-loop-runner';
export { isInputRequest, requestInput } from './runner/input-request';
export type { InputRequest } from './runner/input-request';
export { defaultLimits, resolveLimits } from './runner/limits';
export { maxTimeoutMs } from './runner/limits';
export type { ResolvedLimits } from './runner/limits';

// memory
export { maxMemoryFileBytes, memoryLayerSchema, memoryListQuerySchema, memoryPathSchema, memoryScopeSchema } from './memory/memory-store';
export type {
  DeletedMemoryUserData,
  MemoryListEntry,
  MemoryListQuery,
  MemoryReadResult,
  MemoryScope,
  MemoryStore,
  MemoryWriteOptions,
  MemoryWriteResult,
} from './memory/memory-store';
export { createInMemoryMemoryStore } from './memory/in-memory-memory-store';
export type { InMemoryMemoryStoreOptions } from './memory/in-memory-memory-store';
export { composeMemoryPrompt, defaultMemoryPromptFiles } from './memory/compose-memory-prompt';
export type {
  ComposedMemoryPrompt,
  ComposeMemoryPromptOptions,
  DroppedMemoryPromptFile,
  IncludedMemoryPromptFile,
  MemoryPromptFile,
  MemoryPromptTarget,
  SkippedMemoryPromptFile,
} from './memory/compose-memory-prompt';

// transcripts and durable sessions
export { newSessionSchema, sessionIdSchema, sessionOwnerSchema } from './transcripts/transcript-store';
export type {
  AppendOptions,
  AppendResult,
  DeletedUserData,
  DeleteSessionsBeforeOptions,
  CreateSessionOptions,
  LockRenewal,
  ListSessionsOptions,
  LoadMessagesOptions,
  LockAcquisition,
  LockRelease,
  NewSession,
  OpenSessionRequest,
  PageOptions,
  PruneOptions,
  SessionOwner,
  SessionOpening,
  SessionPage,
  SessionUpdate,
  StoredMessage,
  TranscriptSession,
  TranscriptStore,
  UpdateRunOptions,
} from './transcripts/transcript-store';
export { createInMemoryTranscriptStore } from './transcripts/in-memory-transcript-store';
export type { InMemoryTranscriptStoreOptions } from './transcripts/in-memory-transcript-store';
export { createSessionRunner } from './sessions/session-runner';
export type { SessionRunner } from './sessions/session-runner';
export type { ResumeSessionRequest, SessionRunnerOptions, SessionRunResult, StartSessionRequest } from './sessions/session-request';
export { idempotencyKeySchema } from './transcripts/run-record';
export type { NewRun, RunBegin, RunRecord, RunStatus, RunUpdate, RunUsage } from './transcripts/run-record';
export type { SessionStream, SessionStreamEvent, SessionStreams } from './sessions/session-stream';
