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

/** The product's tables, for kysely. */
export interface DataMachineDatabase {
  dm_tenants: TenantTable;
  dm_users: UserTable;
  dm_memberships: MembershipTable;
  dm_agents: AgentTable;
  dm_agent_owner_counts: AgentOwnerCountTable;
  dm_agent_grants: AgentGrantTable;
  dm_agent_tokens: AgentTokenTable;
  dm_outbox_events: OutboxEventTable;
  dm_outbox_deliveries: OutboxDeliveryTable;
}
