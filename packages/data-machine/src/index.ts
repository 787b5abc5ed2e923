// The public API of data-machine. Every export is named here on purpose.

// errors and the context every operation runs with
export { DataMachineError, dataMachineErrorCodes } from './errors';
export type { DataMachineErrorCode, DataMachineErrorOptions } from './errors';
export { createDataMachineContext, randomId } from './context';
export type { DataMachineContext, DataMachineContextOptions, DenyLogger } from './context';
export type { TenantTransaction } from './scope/tenant-transaction';

// identity and access
export { agentRoles, agentRoleSchema, roleCapabilities, tenantCapabilities, tenantCapabilitySchema, tenantRoles, tenantRoleSchema } from './access/roles';
export type { AgentRole, TenantCapability, TenantRole } from './access/roles';
export { actionRules, actions } from './access/actions';
export type { Action, ActionRule } from './access/actions';
export { actingUserId } from './access/actor';
export type { AccessFacts, Actor, ActorChannel } from './access/actor';
export { decide, denyReasons } from './access/authorize';
export type { AccessTarget, Decision, DenyReason } from './access/authorize';
export { authorize, check, resolveScope } from './scope/scope';
export type { Scope } from './scope/scope';
export { resolveBearerAccess } from './scope/request-access';
export { createBearerAccessCache } from './scope/bearer-access-cache';
export type { BearerAccessCache, BearerAccessCacheOptions, BearerAccessKey } from './scope/bearer-access-cache';
export { accessChangeChannel } from './database/migrations/0020-access-changes';
export { memoryChangeChannel } from './database/migrations/0023-memory-changes';
export { createMemoryPromptCache } from './agents/memory-prompt-cache';
export type { MemoryPromptCache, MemoryPromptCacheOptions } from './agents/memory-prompt-cache';
export type { ChangeFedCache } from './internal/change-fed-cache';
export type { AccessOutcome, BearerAccess, BearerAccessRequest, BearerTenantCandidates, TenantMembershipRef } from './scope/request-access';
export { agentActions, principalFor, resolveAgentPrincipal, resolveAgentRun, toolUseCapability } from './scope/agent-principal';
export type { AgentRun, PrincipalAgent, ResolveAgentPrincipalOptions } from './scope/agent-principal';

// tenants, users, agents, grants, tokens
export { addMember, createTenant, findTenant, listMembers, listMyTenants, newMemberSchema, newTenantSchema, tenantSettingsSchema, updateTenantSettings } from './tenants/tenant-repository';
export type { NewTenant, Tenant, TenantMember } from './tenants/tenant-repository';
export { createUser, emailSchema, findUser, findUserByEmail } from './users/user-repository';
export type { NewUser, User } from './users/user-repository';
export { agentConfigSchema, effectiveConfig } from './agents/agent-config';
export type { AgentConfig } from './agents/agent-config';
export { agentPatchSchema, chooseAgent, createAgent, deleteAgent, getAgent, listAgents, newAgentSchema, updateAgent } from './agents/agent-repository';
export type { Agent, AgentPatch, NewAgent, VisibleAgent } from './agents/agent-repository';
export { composeAgentInstructions } from './agents/agent-instructions';
export {
  agentMemoryDeleteSchema,
  agentMemoryFileRefSchema,
  agentMemoryLayerSchema,
  agentMemoryLayers,
  agentMemoryWriteSchema,
  deleteAgentMemoryFile,
  listAgentMemoryFiles,
  memoryContentHashSchema,
  readAgentMemoryFile,
  writeAgentMemoryFile,
} from './agents/agent-memory';
export type { AgentMemoryDelete, AgentMemoryFile, AgentMemoryFileRef, AgentMemoryFileSummary, AgentMemoryLayer, AgentMemoryWrite, AgentMemoryWriteResult } from './agents/agent-memory';
export { reconcileRegisteredAgents, registeredAgentConfig } from './agents/registered-agents';
export type { ReconcileRegisteredAgentsOptions, RegisteredAgentsReport } from './agents/registered-agents';
export { grantAgentRole, listAgentGrants, newGrantSchema, revokeAgentRole } from './grants/grant-repository';
export type { AgentGrant } from './grants/grant-repository';
export { authenticateAgentToken, createAgentToken, listAgentTokens, revokeAgentToken } from './tokens/agent-token-repository';
export type { AgentToken, TokenAuthentication } from './tokens/agent-token-repository';
export { authenticateUserToken, createUserToken, listUserTokens, revokeUserToken } from './tokens/user-token-repository';
export type { UserToken } from './tokens/user-token-repository';
export { authenticateBearer } from './tokens/authenticate-bearer';
export type { BearerAuthentication } from './tokens/authenticate-bearer';

// console sign-in: one-time login links and cookie sessions
export { defaultLoginLinkLifetimeMs, issueLoginLink, loginLinkPrefix, redeemLoginLink } from './console-sessions/login-link';
export type { LoginLinkRequest } from './console-sessions/login-link';
export {
  authenticateConsoleSession,
  consoleSessionPrefix,
  createConsoleSession,
  defaultConsoleSessionPolicy,
  revokeConsoleSession,
} from './console-sessions/console-session-repository';
export type { ConsoleSession, ConsoleSessionAuthentication, ConsoleSessionPolicy, NewConsoleSession } from './console-sessions/console-session-repository';

// chat sessions: the substrate's transcripts, per scope
export { chatSessionListSchema, chatSessionReadSchema, deleteChatSession, getChatSession, listChatSessions, newChatSessionSchema, renameChatSession, startChatSession } from './transcripts/chat-sessions';
export type { ChatSession, ChatSessionPage, ChatSessionStore, ChatTranscript } from './transcripts/chat-sessions';

// templates by reference
export { installTemplate, templateInstallSchema } from './templates/template-install';
export { listTemplates } from './templates/template-catalog';
export type { TemplateSummary } from './templates/template-catalog';

// the outbox and provisioning
export { outboxEventSchemas, recordEvent } from './outbox/outbox';
export type { OutboxEvent, OutboxEventType, OutboxEventTypes } from './outbox/outbox';
export { dispatchOutbox } from './outbox/outbox-dispatcher';
export type { DispatchOptions, DispatchReport, OutboxHandler } from './outbox/outbox-dispatcher';
export { createAgentMemoryProvisioner, soulFile } from './outbox/provision-agent-memory';
export type { AgentMemoryProvisionerOptions } from './outbox/provision-agent-memory';

// pipelines, flows, steps and handlers (the engine's definitions)
export { engineDataSchema, isHandlerStepType, releasedSignalSchema, signalWaitSchema, jsonObjectSchema, maxPipelineSteps, pipelineStepSchema, pipelineStepsSchema, stepHandlerKinds, stepTypes } from './steps/step';
export type {
  EffectsRecorder,
  EngineData,
  FetchedItem,
  HandlerStepType,
  JsonObject,
  PipelineStep,
  ReleasedSignal,
  SignalWait,
  PipelineStepInput,
  RecordedEffect,
  Step,
  StepContext,
  StepInput,
  StepLogger,
  StepResult,
  StepType,
} from './steps/step';
export type { ValidationIssue } from './steps/validation-issues';
export { describeInputIssues, inputErrorMap, inputIssues, safeParseInput } from './input-issues';
export type { InputIssue } from './input-issues';
export { createAiStep, stepSessionId } from './steps/ai/ai-step';
export type { AiStepOptions, AiStepOutput } from './steps/ai/ai-step';
export { aiStepConfigSchema } from './steps/ai/ai-step-input';
export type { AiStepConfig } from './steps/ai/ai-step-input';
export { isRetryableAiStepError, retryableAiStepCodes } from './steps/ai/ai-step-failure';
export { publishEffectKey, publishToolName } from './steps/ai/publish-tools';
export { createWebhookGateStep, maxWebhookGateTimeoutSeconds, webhookGateConfigSchema, webhookGateSignal } from './steps/webhook-gate/webhook-gate-step';
export type { WebhookGateConfig } from './steps/webhook-gate/webhook-gate-step';
export { handlerKinds } from './handlers/handler';
export { handlerSlugSchema } from './handlers/handler-slug';
export type { ConnectionTest, FetchHandler, Handler, HandlerBase, HandlerContext, HandlerKind, PublishHandler, PublishRequest, PublishResult } from './handlers/handler';
export { createHandlerRegistry } from './handlers/handler-registry';
export type { HandlerRegistry } from './handlers/handler-registry';
export { jsonItemsConfigSchema, jsonItemsHandler, maxJsonItems } from './handlers/json-items-handler';
export type { JsonItemsConfig } from './handlers/json-items-handler';
export { createRecordsHandler, recordsConfigSchema } from './handlers/records-handler';
export type { RecordsConfig } from './handlers/records-handler';
// real handlers (issue 13): the guarded HTTP client, feeds, JSON APIs, webhooks, WordPress
export { HandlerError } from './handlers/handler-error';
export { handlerEffectDetailSchema, handlerEffectKey, handlerEffectsFor, revertSkipReasons } from './handlers/handler-effect';
export type { HandlerEffect, HandlerEffectDetail, HandlerEffectsRecorder, RecordedHandlerEffect, RevertOutcome, RevertSkipReason } from './handlers/handler-effect';
export { createBuiltInHandlers, createDefaultHandlerRegistry } from './handlers/built-in-handlers';
export { createHandlerHttpClient } from './handlers/http/handler-http-client';
export type { HandlerHttpClient, HandlerHttpMethod, HandlerHttpOptions, HandlerHttpRequest, HandlerHttpResponse } from './handlers/http/handler-http-client';
export { createHandlerNetwork, httpForTenant } from './handlers/http/handler-network';
export type { HandlerHttp, HandlerNetwork, HandlerNetworkOptions } from './handlers/http/handler-network';
export { isPublicAddress } from './handlers/http/address-guard';
export type { AddressPolicy } from './handlers/http/address-guard';
export { createHandlerStateStore } from './handlers/state/handler-state-store';
export type { HandlerStateStore } from './handlers/state/handler-state-store';
export { createItemProgress } from './handlers/state/item-progress';
export type { ItemProgress } from './handlers/state/item-progress';
export { bindRemoteIdentity, releaseRemoteIdentity, remoteIdentityLeaseMs, reserveRemoteIdentity } from './handlers/identities/remote-identities';
export type { RemoteIdentityKey, RemoteIdentityReservation } from './handlers/identities/remote-identities';
export { createFeedHandler, feedConfigSchema } from './handlers/feed/feed-handler';
export type { FeedConfig, FeedHandlerOptions, FeedItemData } from './handlers/feed/feed-handler';
export { httpJsonConfigSchema, httpJsonHandler } from './handlers/http-json/http-json-handler';
export type { HttpJsonConfig } from './handlers/http-json/http-json-handler';
export { jsonPointerSchema, resolveJsonPointer } from './handlers/internal/json-pointer';
export { inboundWebhookConfigSchema, inboundWebhookHandler, inboundWebhookHandlerSlug } from './handlers/inbound-webhook-handler';
export type { InboundWebhookConfig } from './handlers/inbound-webhook-handler';
export { createFilesHandler, filesConfigSchema } from './handlers/files/files-handler';
export type { FileItemData, FilesConfig } from './handlers/files/files-handler';
// files uploaded to flows
export { defaultFileMaxBytes, deleteFlowFile, fileUploadSchema, listFlowFiles, uploadFlowFile } from './files/flow-file-repository';
export type { FileUpload, FileUploadOptions, FlowFile } from './files/flow-file-repository';
// inbound webhooks
export { deleteFlowWebhook, getFlowWebhook, rotateFlowWebhookSecret, webhookSecretPrefix, webhookSecretsPurpose } from './webhooks/flow-webhook-repository';
export type { FlowWebhook } from './webhooks/flow-webhook-repository';
export { defaultWebhookMaxBytes, receiveInboundWebhook, releaseWebhookGate, verifyInboundWebhook, webhookToleranceSeconds } from './webhooks/inbound-webhook';
export type { InboundWebhookDelivery, InboundWebhookOptions, InboundWebhookOutcome, VerifiedDelivery } from './webhooks/inbound-webhook';
export { createWebhookHandler, signWebhookBody, webhookConfigSchema, webhookSignatureHeader, webhookTimestampHeader } from './handlers/webhook/webhook-handler';
export type { WebhookConfig, WebhookHandlerOptions } from './handlers/webhook/webhook-handler';
export { createWordPressHandler, wordpressConfigSchema, wordpressPostInputSchema } from './handlers/wordpress/wordpress-handler';
export type { WordPressConfig, WordPressPostInput } from './handlers/wordpress/wordpress-handler';
export { checkPipelineSteps } from './pipelines/pipeline-steps';
export { createPipeline, deletePipeline, getPipeline, listPipelines, newPipelineSchema, pipelinePatchSchema, updatePipeline } from './pipelines/pipeline-repository';
export type { NewPipeline, Pipeline, PipelinePatch } from './pipelines/pipeline-repository';
export { exportPipeline, importConflictSchema, importPipeline, maxPortableFlows, portablePipelineFormat, portablePipelineSchema, portablePipelineVersion } from './pipelines/pipeline-portable';
export type { ImportConflict, ImportedPipeline, PortablePipeline } from './pipelines/pipeline-portable';
export { checkFlowStepConfig, effectiveHandlerConfig, flowStepConfigSchema, flowStepConfigsSchema, mergeConfig } from './flows/flow-step-config';
export type { FlowStepConfig, FlowStepConfigs } from './flows/flow-step-config';
export { createFlow, deleteFlow, flowLimits, flowPatchSchema, getFlow, listFlows, newFlowSchema, pauseFlow, resumeFlow, updateFlow } from './flows/flow-repository';
export type { Flow, FlowPatch, NewFlow } from './flows/flow-repository';

// schedules
export { catchUpSchema, intervalPresets, manualSchedule, scheduleSchema } from './schedules/schedule';
export type { IntervalPreset, Schedule } from './schedules/schedule';
export { checkSchedule, firstRunAt, maxUpcomingRuns, staggerFraction, staggerOffset, tickAfter, upcomingRuns } from './schedules/next-run';
export { scheduleIdempotencyKey } from './schedules/due-flows';
export { createScheduler, planTick, schedulerLeaseName } from './schedules/scheduler';
export type { FlowRunRequest, FlowRunStarter, Scheduler, SchedulerOptions, TickPlan, TickReport } from './schedules/scheduler';
export type { SchedulerLogger, SystemTask } from './schedules/system-task';

// jobs, queues, processed items, logs, retention (issue 12). Operator
// functions authorize through the access module; the engine-facing ones take
// the worker's tenant transaction and authorize nothing (only the engine calls them).
export { endedJobStatuses, isEndedJobStatus, jobStatuses, liveJobStatuses } from './jobs/job';
export type { EndedJobStatus, Job, JobError, JobSource, JobStatus } from './jobs/job';
export { createChildJobs, createJob, jobTransitions, recordJobProgress, startDelivery, transitionJob } from './jobs/job-lifecycle';
export type { RunStatement } from './jobs/job-lifecycle';
export type { ChildItem, ChildJobOptions, CreatedJob, Delivery, JobChange, JobHoldings, JobProgress, JobTransition, NewJob, StartedDelivery, TransitionJobOptions, TransitionOptions } from './jobs/job-lifecycle';
export { cancelJob, cancelledByOperator, getJob, jobListOptionsSchema, listJobChildren, listJobs } from './jobs/job-repository';
export type { JobListOptions } from './jobs/job-repository';
export { pageOptionsSchema } from './jobs/page-cursor';
export type { Page, PageOptions } from './jobs/page-cursor';
export { configPatchBodySchema, promptBodySchema, queueModes, queueModeSchema, queueNames, queueNameSchema } from './queues/queue';
export type { QueueBody, QueueEntry, QueueKey, QueueMode, QueueName } from './queues/queue';
export { addToQueue, clearQueue, listQueue, moveQueueEntry, queueAddressSchema, setQueueOrder } from './queues/queue-repository';
export type { QueueAddress } from './queues/queue-repository';
export { settleQueueLease, takeFromQueue } from './queues/queue-lease';
export type { LeaseOutcome, QueueTake, SettledLeases } from './queues/queue-lease';
export { claimItems, doneItemKeys, markItemsDone, releaseItems } from './items/processed-items';
export type { ItemClaim, ItemSelection } from './items/processed-items';
export { jobLogsInsert, listAgentLogs, listJobLogs, logLevels, writeJobLog, writeJobLogs } from './logs/job-log';
export type { AgentLogListOptions, JobLogEntry, JobLogLine, JobLogsInsert, LogLevel, NewJobLogLine } from './logs/job-log';
export {
  defaultRetention,
  effectiveRetention,
  getRetention,
  retentionKinds,
  retentionOverridesSchema,
  retentionPatchSchema,
  runRetention,
  runTenantRetention,
  updateRetention,
} from './retention/retention';
export type {
  RetentionCounts,
  RetentionKind,
  RetentionOptions,
  RetentionOverrides,
  RetentionPatch,
  RetentionReport,
  RetentionWindows,
  TenantRetentionReport,
  TranscriptRetention,
} from './retention/retention';
export { createRetentionTask } from './retention/retention-sweep';
export type { RetentionTaskOptions } from './retention/retention-sweep';

// the job engine (pg-boss)
export { installJobEngine, createJobEngine, engineQueues } from './engine/job-engine';
export type { EngineDatabase, EngineMessage, EnqueueOptions, InstallJobEngineOptions, JobEngine, JobEngineOptions } from './engine/job-engine';
export { kyselyBossDatabase, pgliteBossDatabase, poolBossDatabase } from './engine/boss-database';
export type { BossDatabase, PgliteExecutor, PoolExecutor } from './engine/boss-database';
export { retryableJobStatuses, retryJob, runFlowNow, startFlowRun, startFlowRunIn } from './engine/flow-run';
export type { FlowRun, RunNowOptions } from './engine/flow-run';
export { createJobWorker } from './engine/job-worker';
export type { JobWorker, JobWorkerOptions } from './engine/job-worker';
export { executeJob, fanOutReason } from './engine/job-executor';
export type { DeliveryCompletion, ExecutionOutcome, JobExecutorOptions, ProcessLogger, StepRegistry } from './engine/job-executor';
export { createHandlerSteps } from './engine/handler-steps';
export { testFlowStep } from './flows/flow-step-test';
export type { FlowStepTestOptions, FlowStepTestResult } from './flows/flow-step-test';
export { createSecretBox, minimumSecretKeyLength } from './secrets/secret-box';
export type { SecretBox } from './secrets/secret-box';
export { deleteAgentSecret, listAgentSecrets, readAgentSecret, secretValueSchema, setAgentSecret } from './secrets/agent-secrets';
export type { AgentSecretSummary } from './secrets/agent-secrets';
export { secretNameSchema } from './secrets/secret-name';
export { createHandlerSecrets, handlerSecretsPurpose } from './secrets/handler-secrets';
export type { HandlerSecrets } from './secrets/handler-secrets';
export { maxEndedJobsPerWindow, readAutomationMetrics } from './metrics/automation-metrics';
export type { AutomationGauges, AutomationMetrics, EndedWork, MetricsWindow } from './metrics/automation-metrics';
export { releasedReason, signalJob, signalWaitReason } from './engine/job-signals';
export type { JobSignal } from './engine/job-signals';
export type { HandlerStepsOptions } from './engine/handler-steps';
export { defaultRetryPolicy, isPermanentError } from './engine/retry-policy';
export type { RetryPolicies, RetryPolicy } from './engine/retry-policy';
export { lostWorkerReason, reconcileJobs } from './engine/job-reconciler';
export type { ReconcileOptions, ReconcileReport } from './engine/job-reconciler';
export { createOutboxWorker, outboxKick } from './engine/outbox-worker';
export type { OutboxWorker, OutboxWorkerOptions } from './engine/outbox-worker';
export { createJobEffectsRecorder } from './engine/job-effects';
export { undoOutcomes, undoStatuses } from './undo/undo';
export type { Undo, UndoEffectResult, UndoOutcome, UndoReport, UndoStatus } from './undo/undo';
export { getUndoReport, listUndos, requestUndo } from './undo/undo-repository';
export { listJobEffects } from './undo/job-effect-repository';
export type { JobEffect, JobEffectUndoState } from './undo/job-effect-repository';
export type { UndoMessage } from './undo/undo';
export { runUndo } from './undo/undo-runner';
export type { UndoRunnerOptions } from './undo/undo-runner';
export { createUndoWorker } from './undo/undo-worker';
export type { UndoWorker, UndoWorkerOptions } from './undo/undo-worker';

// the database
export type { AgentOrigin, DataMachineDatabase } from './database/data-machine-database';
export { dataMachineMigrations, migrateDataMachine } from './database/data-machine-migrations';

// human approval of agent actions (issue 13): tool modes, pending actions, signed links, the expiry sweep
export { agentToolModesSchema, resolveToolMode, toolModeSchema, toolModes } from './approvals/tool-mode';
export type { AgentToolModes, RunMode, ToolMode, ToolModeDecision, ToolModeRules, ToolModeSource, ToolModeSubject } from './approvals/tool-mode';
export {
  approvalDecisionSchema,
  approvalDecisions,
  approvalResolutionSchema,
  approvalSignal,
  pendingActionListOptionsSchema,
  pendingActionStatusSchema,
  pendingActionStatuses,
} from './approvals/pending-action';
export type { ApprovalDecisionKind, ApprovalResolution, DecidedVia, PendingAction, PendingActionListOptions, PendingActionStatus } from './approvals/pending-action';
export { getPendingAction, listPendingActions } from './approvals/pending-action-repository';
export { expiredReason, expirePendingActions, issueApprovalLinks, previewApprovalLink, resolveByApprovalLink, resolvePendingAction } from './approvals/approval-resolution';
export type { ApprovalExpiryReport, ApprovalLinkPreview, ApprovalLinks, ApprovalReleasePayload, ReleaseJob } from './approvals/approval-resolution';
export { signApprovalLink, verifyApprovalLink } from './approvals/approval-links';
export type { ApprovalLinkClaims } from './approvals/approval-links';
export { createApprovalExpiryTask } from './approvals/approval-expiry-task';
// chat: the product's server-side tools of a chat turn, under the agent's tool modes
export { chatTools } from './chat/chat-tools';
export type { ChatTool, ChatToolPreview, ChatToolsWorld } from './chat/chat-tools';
export { defaultChatApprovalTtlMs, openChatTools } from './chat/chat-turn-tools';
export type { ChatTurnTools, ChatTurnToolsOptions, OfferedChatTool } from './chat/chat-turn-tools';
