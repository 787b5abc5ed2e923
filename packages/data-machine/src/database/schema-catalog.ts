/**
 * What the schema test holds every product table to. A table is global (its
 * rows belong to no one tenant), tenant-level (carries `tenant_id`), or
 * agent-scoped (carries `tenant_id` and `agent_id`); every table that is not
 * global has row-level security enabled and forced. Adding a `dm_*` table
 * means adding it here, deliberately.
 */
export const productTables = {
  /** The tenants themselves and the people who belong to them. */
  global: ['dm_tenants', 'dm_users', 'dm_user_tokens', 'dm_console_sessions', 'dm_login_link_uses', 'dm_scheduler_leases', 'dm_system_tasks'],
  /** A tenant's own rows, about no one agent. `dm_agents` is here: its `id` is the agent. */
  tenantLevel: ['dm_memberships', 'dm_agents', 'dm_agent_owner_counts'],
  /** Everything else: scoped to an agent. */
  agentScoped: [
    'dm_agent_grants',
    'dm_agent_tokens',
    'dm_outbox_events',
    'dm_outbox_deliveries',
    'dm_pipelines',
    'dm_flows',
    'dm_queue_entries',
    'dm_jobs',
    'dm_processed_items',
    'dm_job_logs',
    'dm_records',
    'dm_handler_state',
    'dm_remote_identities',
    'dm_job_effects',
    'dm_pending_actions',
    'dm_undos',
    'dm_undo_results',
    'dm_agent_secrets',
    'dm_flow_webhooks',
    'dm_flow_files',
  ],
} as const;
