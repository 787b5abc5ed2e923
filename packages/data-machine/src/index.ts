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

// schedules
export { catchUpSchema, intervalPresets, manualSchedule, scheduleSchema } from './schedules/schedule';
export type { IntervalPreset, Schedule } from './schedules/schedule';

// the database
export type { DataMachineDatabase } from './database/data-machine-database';
export { dataMachineMigrations, migrateDataMachine } from './database/data-machine-migrations';
