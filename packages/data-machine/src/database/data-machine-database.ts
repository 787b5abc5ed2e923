import type { ColumnType } from 'kysely';

/** A `timestamptz` column: read as a Date, written as a Date. */
type Timestamp = ColumnType<Date, Date, Date>;
/** A `jsonb` column: read as parsed JSON, written as JSON text. */
type Json<T> = ColumnType<T, string, string>;

/** A tenant: an organisation or site. Global (its id is the tenant). */
export interface TenantTable {
  id: string;
  slug: string;
  name: string;
  is_catalog: boolean;
  /** How many agents a member without `manage_agents` may own. */
  agent_limit_per_user: ColumnType<number, number | undefined, number>;
  /** Overrides of the retention windows, in days, by kind; absent keys keep the defaults. */
  retention: ColumnType<Record<string, number>, string | undefined, string>;
  /** Whether the tenant's handlers may reach private, loopback and link-local addresses; only the system principal sets it. */
  allow_private_addresses: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** A person. Global: one user may belong to several tenants. */
export interface UserTable {
  id: string;
  /** Trimmed and lower-cased; unique. */
  email: string;
  display_name: string;
  created_at: Timestamp;
}

/** A user's role in a tenant. */
export interface MembershipTable {
  tenant_id: string;
  user_id: string;
  role: string;
  created_by: string | null;
  created_at: Timestamp;
}

/** An agent: the scoping key of everything the product does. */
export interface AgentTable {
  id: string;
  tenant_id: string;
  slug: string;
  name: string;
  description: string;
  owner_user_id: string | null;
  template_agent_id: string | null;
  is_default: boolean;
  /** Created through the product, or materialised from a registry definition. */
  origin: AgentOrigin;
  config: Json<Record<string, unknown>>;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** How many agents a user owns in a tenant: the row the self-service limit is enforced on. */
export interface AgentOwnerCountTable {
  tenant_id: string;
  user_id: string;
  owned: number;
}

/** A user's role on one agent. */
export interface AgentGrantTable {
  tenant_id: string;
  agent_id: string;
  user_id: string;
  role: string;
  created_by: string | null;
  created_at: Timestamp;
}

/** An agent token: only the SHA-256 of its secret is kept. */
export interface AgentTokenTable {
  id: string;
  tenant_id: string;
  agent_id: string;
  /** The user the token acts as; it never has more than they do. */
  user_id: string;
  secret_hash: string;
  prefix: string;
  label: string;
  ceiling: Json<string[]>;
  expires_at: Timestamp | null;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
  created_by: string | null;
  created_at: Timestamp;
}

/** An event recorded in the transaction that caused it. */
export interface OutboxEventTable {
  id: string;
  tenant_id: string;
  agent_id: string;
  type: string;
  payload: Json<Record<string, unknown>>;
  created_at: Timestamp;
}

/** One handler's delivery of one event: retried with backoff until delivered. */
export interface OutboxDeliveryTable {
  event_id: string;
  handler: string;
  tenant_id: string;
  agent_id: string;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Timestamp;
  delivered_at: Timestamp | null;
  last_error: string | null;
}

/** An ordered list of steps an agent owns. */
export interface PipelineTable {
  id: string;
  tenant_id: string;
  agent_id: string;
  slug: string;
  name: string;
  /** The step definitions, in order (validated by the pipelines module). */
  steps: Json<unknown[]>;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** A pipeline's configured, scheduled instance. Its agent is its pipeline's (a composite foreign key). */
export interface FlowTable {
  id: string;
  tenant_id: string;
  agent_id: string;
  pipeline_id: string;
  slug: string;
  name: string;
  /** Per step key: the handler configuration and queue modes (validated by the flows module). */
  step_config: ColumnType<Record<string, unknown>, string | undefined, string>;
  /** When the flow runs (`scheduleSchema`). */
  schedule: ColumnType<unknown, string | undefined, string>;
  paused: ColumnType<boolean, boolean | undefined, boolean>;
  max_items: ColumnType<number, number | undefined, number>;
  concurrency: ColumnType<number, number | undefined, number>;
  /** When the scheduler next starts it; null when it has no next run. */
  next_run_at: Timestamp | null;
  /** Until when a scheduler holds the tick at `next_run_at` (starting it); null when none does. */
  schedule_claimed_until: ColumnType<Date | null, Date | null | undefined, Date | null>;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** An entry of a flow step's prompt or config-patch queue. */
export interface QueueEntryTable {
  id: string;
  tenant_id: string;
  agent_id: string;
  flow_id: string;
  step_key: string;
  queue: 'prompt' | 'config_patch';
  /** `bigint`: pg returns it as a string. */
  position: ColumnType<string, string | number | bigint, string | number | bigint>;
  body: Json<unknown>;
  leased_by_job_id: string | null;
  leased_at: Timestamp | null;
  /** The mode the lease was taken with: what success does to the entry. */
  lease_mode: ColumnType<'drain' | 'loop' | null, 'drain' | 'loop' | null | undefined, 'drain' | 'loop' | null>;
  created_by: string | null;
  created_at: Timestamp;
}

/** Where a job came from. */
export type JobSource = 'schedule' | 'manual' | 'api' | 'retry' | 'system' | 'webhook';
/** Where a job is; why it is there is the separate `status_reason`. */
export type JobStatus = 'pending' | 'processing' | 'waiting' | 'completed' | 'completed_no_items' | 'failed' | 'cancelled' | 'skipped';

/** One run of a flow: the product's record (pg-boss executes it). */
export interface JobTable {
  id: string;
  tenant_id: string;
  agent_id: string;
  flow_id: string;
  pipeline_id: string;
  parent_job_id: string | null;
  source: JobSource;
  status: JobStatus;
  status_reason: string | null;
  current_step: string | null;
  /** The item and the step outputs. */
  engine_data: ColumnType<Record<string, unknown>, string | undefined, string>;
  /** The source key of the item a child job runs on. */
  item_key: string | null;
  idempotency_key: string | null;
  attempts: ColumnType<number, number | undefined, number>;
  /** The pg-boss job that executes it, while one does. */
  engine_job_id: string | null;
  children_total: ColumnType<number, number | undefined, number>;
  children_ended: ColumnType<number, number | undefined, number>;
  children_failed: ColumnType<number, number | undefined, number>;
  error_code: string | null;
  error_message: string | null;
  created_by: string | null;
  created_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
}

/** An item a flow step has taken: claimed while a job works on it, done once its steps completed. */
export interface ProcessedItemTable {
  tenant_id: string;
  agent_id: string;
  flow_id: string;
  step_key: string;
  source_key: string;
  status: 'claimed' | 'done';
  job_id: string | null;
  claimed_at: Timestamp;
  done_at: Timestamp | null;
}

/** A log line of a job (or of an agent, without a job). */
export interface JobLogTable {
  /** `bigint` identity: pg returns it as a string. */
  id: ColumnType<string, never, never>;
  tenant_id: string;
  agent_id: string;
  job_id: string | null;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  context: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: Timestamp;
}

/** What the built-in `records` publish handler appends: one row per published item. */
export interface RecordTable {
  id: string;
  tenant_id: string;
  agent_id: string;
  flow_id: string;
  job_id: string | null;
  collection: string;
  idempotency_key: string;
  body: Json<unknown>;
  created_at: Timestamp;
}

/** What a handler remembers for one flow step between calls (a feed's validators and watermark). */
export interface HandlerStateTable {
  tenant_id: string;
  agent_id: string;
  flow_id: string;
  step_key: string;
  handler: string;
  state: Json<unknown>;
  updated_at: Timestamp;
}

/** An item key's remote object at a publish target, reserved (remote_id null) before the call that creates it. */
export interface RemoteIdentityTable {
  id: string;
  tenant_id: string;
  agent_id: string;
  handler: string;
  target: string;
  identity_key: string;
  remote_id: string | null;
  reserved_by: string;
  reserved_at: Timestamp;
  updated_at: Timestamp;
}

/** A side effect a job's step performed, by a key stable across retries (migration 0008). */
export interface JobEffectTable {
  tenant_id: string;
  agent_id: string;
  job_id: string;
  key: string;
  kind: string;
  detail: Json<Record<string, unknown>>;
  created_at: Timestamp;
  /** Insertion order, across jobs: an undo reverses effects by it, newest first. */
  seq: ColumnType<string, never, never>;
  /** The undo that reverted the effect, if one did (an effect is reverted at most once). */
  reverted_by: ColumnType<string | null, string | null | undefined, string | null>;
  reverted_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

/** What an undo is doing: waiting for a worker, running, or ended. */
export type UndoStatus = 'pending' | 'processing' | 'completed' | 'failed';
/** What became of one effect in an undo. */
export type UndoOutcome = 'reverted' | 'skipped' | 'failed';

/** An undo of a job's effects (with its fan-out children's), run as a pg-boss job. */
export interface UndoTable {
  id: string;
  tenant_id: string;
  agent_id: string;
  job_id: string;
  status: UndoStatus;
  status_reason: string | null;
  attempts: ColumnType<number, number | undefined, number>;
  reverted: ColumnType<number, number | undefined, number>;
  skipped: ColumnType<number, number | undefined, number>;
  failed: ColumnType<number, number | undefined, number>;
  error_code: string | null;
  error_message: string | null;
  requested_by: string | null;
  created_at: Timestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
}

/** One line of an undo's report: what became of one effect. */
export interface UndoResultTable {
  tenant_id: string;
  agent_id: string;
  undo_id: string;
  job_id: string;
  effect_key: string;
  position: number;
  handler: string | null;
  kind: string;
  outcome: UndoOutcome;
  reason: string | null;
  error_code: string | null;
  error_message: string | null;
  created_at: Timestamp;
}

/** Where a pending action stands; see migration 0012. */
export type PendingActionStatus = 'pending' | 'applying' | 'accepted' | 'rejected' | 'failed';

/** A tool call held for a human's decision (migration 0012), by a job's step or a chat session (migration 0018). */
export interface PendingActionTable {
  id: string;
  tenant_id: string;
  agent_id: string;
  /** The job whose step held it; null for a chat session's. */
  job_id: string | null;
  step_key: string | null;
  /** The chat session whose turn held it; null for a job's. */
  session_id: ColumnType<string | null, string | null | undefined, string | null>;
  tool_call_id: string;
  kind: string;
  summary: string;
  preview: Json<unknown>;
  tool_name: string;
  input: Json<unknown>;
  triggered_by: string | null;
  status: PendingActionStatus;
  expires_at: Timestamp;
  decided_by: ColumnType<string | null, string | null | undefined, string | null>;
  decided_via: ColumnType<string | null, string | null | undefined, string | null>;
  decided_nonce: ColumnType<string | null, string | null | undefined, string | null>;
  decided_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  reason: ColumnType<string | null, string | null | undefined, string | null>;
  result: ColumnType<unknown, string | null | undefined, string | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** A flow's inbound webhook: its secret sealed with the server's key (migration 0011). */
export interface FlowWebhookTable {
  flow_id: string;
  tenant_id: string;
  agent_id: string;
  sealed_secret: string;
  created_by: string | null;
  created_at: Timestamp;
  rotated_at: Timestamp;
}

/** A file uploaded to a flow, for its `files` fetch (migration 0011). */
export interface FlowFileTable {
  id: string;
  tenant_id: string;
  agent_id: string;
  flow_id: string;
  name: string;
  content_type: string;
  size: number;
  sha256: string;
  content: Uint8Array;
  created_by: string | null;
  created_at: Timestamp;
}

/** A user's personal access token. Global: it acts as its user wherever the user belongs. */
export interface UserTokenTable {
  id: string;
  user_id: string;
  secret_hash: string;
  prefix: string;
  label: string;
  expires_at: Timestamp | null;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
  created_by: string | null;
  created_at: Timestamp;
}

/** A console cookie session (see console-sessions/). */
export interface ConsoleSessionTable {
  id: string;
  secret_hash: string;
  user_id: string;
  tenant_id: string | null;
  csrf_hash: string;
  created_at: Timestamp;
  last_seen_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
}

/** A one-time login link already redeemed. */
export interface LoginLinkUseTable {
  link_id: string;
  user_id: string;
  used_at: Timestamp;
  expires_at: Timestamp;
}

/** Where an agent row came from: the product, or a registry definition reconciled at boot. */
export type AgentOrigin = 'product' | 'registry';

/** The product's tables, for kysely. */
/** The lease that lets one scheduler run at a time (global: no tenant). */
/** A credential an agent's handlers use, sealed with the server's secret key. */
export interface AgentSecretTable {
  tenant_id: string;
  agent_id: string;
  name: string;
  /** `v1.<iv>.<tag>.<ciphertext>` (see `createSecretBox`); never the plaintext. */
  sealed: string;
  created_by: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface SchedulerLeaseTable {
  name: string;
  holder: string;
  expires_at: Timestamp;
}

/** When a recurring system task (retention) next runs (global: no tenant). */
export interface SystemTaskTable {
  name: string;
  next_run_at: Timestamp;
  last_run_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
}

export interface DataMachineDatabase {
  dm_tenants: TenantTable;
  dm_users: UserTable;
  dm_user_tokens: UserTokenTable;
  dm_console_sessions: ConsoleSessionTable;
  dm_login_link_uses: LoginLinkUseTable;
  dm_memberships: MembershipTable;
  dm_agents: AgentTable;
  dm_agent_owner_counts: AgentOwnerCountTable;
  dm_agent_grants: AgentGrantTable;
  dm_agent_tokens: AgentTokenTable;
  dm_outbox_events: OutboxEventTable;
  dm_outbox_deliveries: OutboxDeliveryTable;
  dm_pipelines: PipelineTable;
  dm_flows: FlowTable;
  dm_queue_entries: QueueEntryTable;
  dm_jobs: JobTable;
  dm_agent_secrets: AgentSecretTable;
  dm_processed_items: ProcessedItemTable;
  dm_job_logs: JobLogTable;
  dm_records: RecordTable;
  dm_scheduler_leases: SchedulerLeaseTable;
  dm_system_tasks: SystemTaskTable;
  dm_handler_state: HandlerStateTable;
  dm_remote_identities: RemoteIdentityTable;
  dm_job_effects: JobEffectTable;
  dm_pending_actions: PendingActionTable;
  dm_undos: UndoTable;
  dm_undo_results: UndoResultTable;
  dm_flow_webhooks: FlowWebhookTable;
  dm_flow_files: FlowFileTable;
}
