// The public API of data-machine. Every export is named here on purpose.

// errors and the context every operation runs with
export { DataMachineError, dataMachineErrorCodes } from './errors';
export type { DataMachineErrorCode, DataMachineErrorOptions } from './errors';
export { createDataMachineContext, randomId } from './context';
export type { DataMachineContext, DataMachineContextOptions, DenyLogger } from './context';

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

// tenants, users, agents, grants, tokens
export { addMember, createTenant, findTenant, listMyTenants, newMemberSchema, newTenantSchema, tenantSettingsSchema, updateTenantSettings } from './tenants/tenant-repository';
export type { NewTenant, Tenant } from './tenants/tenant-repository';
export { createUser, emailSchema, findUser, findUserByEmail } from './users/user-repository';
export type { NewUser, User } from './users/user-repository';
export { agentConfigSchema, effectiveConfig } from './agents/agent-config';
export type { AgentConfig } from './agents/agent-config';
export { agentPatchSchema, chooseAgent, createAgent, deleteAgent, getAgent, listAgents, newAgentSchema, updateAgent } from './agents/agent-repository';
export type { Agent, AgentPatch, NewAgent, VisibleAgent } from './agents/agent-repository';
export { grantAgentRole, listAgentGrants, newGrantSchema, revokeAgentRole } from './grants/grant-repository';
export type { AgentGrant } from './grants/grant-repository';
export { authenticateAgentToken, createAgentToken, listAgentTokens, revokeAgentToken } from './tokens/agent-token-repository';
export type { AgentToken, TokenAuthentication } from './tokens/agent-token-repository';
export { authenticateUserToken, createUserToken, listUserTokens, revokeUserToken } from './tokens/user-token-repository';
export type { UserToken } from './tokens/user-token-repository';
export { authenticateBearer } from './tokens/authenticate-bearer';
export type { BearerAuthentication } from './tokens/authenticate-bearer';

// templates by reference
export { installTemplate, templateInstallSchema } from './templates/template-install';

// the outbox and provisioning
export { outboxEventSchemas, recordEvent } from './outbox/outbox';
export type { OutboxEvent, OutboxEventType, OutboxEventTypes } from './outbox/outbox';
export { dispatchOutbox } from './outbox/outbox-dispatcher';
export type { DispatchOptions, DispatchReport, OutboxHandler } from './outbox/outbox-dispatcher';
export { createAgentMemoryProvisioner, soulFile } from './outbox/provision-agent-memory';
export type { AgentMemoryProvisionerOptions } from './outbox/provision-agent-memory';

// pipelines, flows, steps and handlers (the engine's definitions)
export { engineDataSchema, isHandlerStepType, jsonObjectSchema, maxPipelineSteps, pipelineStepSchema, pipelineStepsSchema, stepHandlerKinds, stepTypes } from './steps/step';
export type {
  EffectsRecorder,
  EngineData,
  FetchedItem,
  HandlerStepType,
  JsonObject,
  PipelineStep,
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
export { handlerKinds, handlerSlugSchema } from './handlers/handler';
export type { ConnectionTest, FetchHandler, Handler, HandlerBase, HandlerContext, HandlerKind, PublishHandler, PublishRequest, PublishResult } from './handlers/handler';
export { createHandlerRegistry } from './handlers/handler-registry';
export type { HandlerRegistry } from './handlers/handler-registry';
export { jsonItemsConfigSchema, jsonItemsHandler, maxJsonItems } from './handlers/json-items-handler';
export type { JsonItemsConfig } from './handlers/json-items-handler';
export { createRecordsHandler, recordsConfigSchema } from './handlers/records-handler';
export type { RecordsConfig } from './handlers/records-handler';
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

// jobs, queues, processed items, logs, retention (issue 12). Operator
// functions authorize through the access module; the engine-facing ones take
// the worker's tenant transaction and authorize nothing (only the engine calls them).
export { endedJobStatuses, isEndedJobStatus, jobStatuses, liveJobStatuses } from './jobs/job';
export type { EndedJobStatus, Job, JobError, JobSource, JobStatus } from './jobs/job';
export { createChildJobs, createJob, jobTransitions, recordJobProgress, transitionJob } from './jobs/job-lifecycle';
export type { ChildItem, ChildJobOptions, CreatedJob, JobChange, JobTransition, NewJob, TransitionOptions } from './jobs/job-lifecycle';
export { cancelJob, cancelledByOperator, getJob, jobListOptionsSchema, listJobs } from './jobs/job-repository';
export type { JobListOptions } from './jobs/job-repository';
export { pageOptionsSchema } from './jobs/page-cursor';
export type { Page, PageOptions } from './jobs/page-cursor';
export { configPatchBodySchema, promptBodySchema, queueModes, queueModeSchema, queueNames, queueNameSchema } from './queues/queue';
export type { QueueBody, QueueEntry, QueueKey, QueueMode, QueueName } from './queues/queue';
export { addToQueue, clearQueue, listQueue, moveQueueEntry, queueAddressSchema, setQueueOrder } from './queues/queue-repository';
export type { QueueAddress } from './queues/queue-repository';
export { settleQueueLease, takeFromQueue } from './queues/queue-lease';
export type { LeaseOutcome, QueueTake, SettledLeases } from './queues/queue-lease';
export { claimItems, markItemsDone, releaseItems } from './items/processed-items';
export type { ItemClaim, ItemSelection } from './items/processed-items';
export { listAgentLogs, listJobLogs, logLevels, writeJobLog } from './logs/job-log';
export type { AgentLogListOptions, JobLogLine, LogLevel, NewJobLogLine } from './logs/job-log';
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

// the job engine (pg-boss)
export { installJobEngine, createJobEngine, engineQueues } from './engine/job-engine';
export type { EngineDatabase, EngineMessage, EnqueueOptions, InstallJobEngineOptions, JobEngine, JobEngineOptions } from './engine/job-engine';
export { kyselyBossDatabase, pgliteBossDatabase, poolBossDatabase } from './engine/boss-database';
export type { BossDatabase, PgliteExecutor, PoolExecutor } from './engine/boss-database';
export { startFlowRun, startFlowRunIn } from './engine/flow-run';
export type { FlowRun } from './engine/flow-run';
export { createJobWorker } from './engine/job-worker';
export type { JobWorker, JobWorkerOptions } from './engine/job-worker';
export { executeJob, fanOutReason } from './engine/job-executor';
export type { ExecutionOutcome, JobExecutorOptions, ProcessLogger, StepRegistry } from './engine/job-executor';
export { createHandlerSteps } from './engine/handler-steps';
export { defaultRetryPolicy, isPermanentError } from './engine/retry-policy';
export type { RetryPolicies, RetryPolicy } from './engine/retry-policy';
export { lostWorkerReason, reconcileJobs } from './engine/job-reconciler';
export type { ReconcileOptions, ReconcileReport } from './engine/job-reconciler';
export { createOutboxWorker } from './engine/outbox-worker';
export type { OutboxWorker, OutboxWorkerOptions } from './engine/outbox-worker';
export { createJobEffectsRecorder } from './engine/job-effects';

// the database
export type { DataMachineDatabase } from './database/data-machine-database';
export { dataMachineMigrations, migrateDataMachine } from './database/data-machine-migrations';
