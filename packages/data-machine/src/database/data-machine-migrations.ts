import { runMigrations, type MigrationRun, type MigrationSet } from '@data-machine/agents-api/postgres';
import type { Kysely } from 'kysely';
import { identity } from './migrations/0001-identity';
import { outbox } from './migrations/0002-outbox';
import { engine } from './migrations/0003-engine';
import { userTokens } from './migrations/0005-user-tokens';
import { queueLeaseMode } from './migrations/0006-queue-lease-mode';
import { agentOrigin } from './migrations/0007-agent-origin';
import { jobEffects } from './migrations/0008-job-effects';
import { scheduler } from './migrations/0009-scheduler';
import { handlerState } from './migrations/0010-handler-state';
import { inbound } from './migrations/0011-inbound';
import { pendingActions } from './migrations/0012-pending-actions';
import { undo } from './migrations/0013-undo';
import { consoleSessions } from './migrations/0014-console-sessions';
import { metricsRead } from './migrations/0015-metrics-read';
import { agentSecrets } from './migrations/0016-agent-secrets';
import { tenantNetwork } from './migrations/0017-tenant-network';
import { chatPendingActions } from './migrations/0018-chat-pending-actions';
import { bearerAccess } from './migrations/0019-bearer-access';
import { accessChanges } from './migrations/0020-access-changes';
import { memoryFileWrites } from './migrations/0021-memory-file-writes';
import { memoryChanges } from './migrations/0023-memory-changes';
import { substrateTenancy } from './migrations/0024-substrate-tenancy';
import { engineGuard } from './migrations/0025-engine-guard';

/** The tables of `data-machine`, all named `dm_*`. Forward only: add the next migration, never edit a shipped one. */
export const dataMachineMigrations: MigrationSet = {
  name: 'data_machine',
  migrations: {
    '0001_identity': identity,
    '0002_outbox': outbox,
    '0003_engine': engine,
    '0005_user_tokens': userTokens,
    '0006_queue_lease_mode': queueLeaseMode,
    '0007_agent_origin': agentOrigin,
    '0008_job_effects': jobEffects,
    '0009_scheduler': scheduler,
    '0010_handler_state': handlerState,
    '0011_inbound': inbound,
    '0012_pending_actions': pendingActions,
    '0013_undo': undo,
    '0014_console_sessions': consoleSessions,
    '0015_metrics_read': metricsRead,
    '0016_agent_secrets': agentSecrets,
    '0017_tenant_network': tenantNetwork,
    '0018_chat_pending_actions': chatPendingActions,
    '0019_bearer_access': bearerAccess,
    '0020_access_changes': accessChanges,
    '0021_memory_file_writes': memoryFileWrites,
    '0023_memory_changes': memoryChanges,
    '0024_substrate_tenancy': substrateTenancy,
    '0025_engine_guard': engineGuard,
  },
};

/** Creates or upgrades this package's tables; run after `migrateAgentsApi`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function migrateDataMachine(db: Kysely<any>): Promise<MigrationRun> {
  return runMigrations(db, dataMachineMigrations);
}
