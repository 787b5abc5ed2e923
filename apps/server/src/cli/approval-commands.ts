import { listPendingActions, pendingActionStatuses, resolvePendingAction, signalJob, type ApprovalDecisionKind, type PendingAction, type ReleaseJob } from 'data-machine';
import { page, nextPage } from './automation-commands';
import { done, iso, oneOf, optional, type AdminCommand, type CommandInput, type CommandResult } from './command';

function actionRow(action: PendingAction): Record<string, unknown> {
  return { id: action.id, status: action.status, tool: action.toolName, summary: action.summary, job: action.jobId, expires: iso(action.expiresAt) };
}

/** A decision command: `approvals accept|reject <id> [--reason <text>]`, releasing the job on the engine. */
function decisionCommand(decision: ApprovalDecisionKind): AdminCommand {
  return {
    words: ['approvals', decision],
    usage: `approvals ${decision} <id> [--reason <text>] [--tenant <slug>] --as <email>`,
    options: { reason: { type: 'string' } },
    positionals: 1,
    async run(input: CommandInput): Promise<CommandResult> {
      const engine = await input.engine();
      const release: ReleaseJob = async (trx, { jobId, signal, payload }) => {
        await signalJob(input.context, engine, trx, { jobId, signal, payload });
      };
      const reason = optional(input.values, 'reason');
      const action = await resolvePendingAction(input.context, release, await input.scope(), input.positionals[0] ?? '', decision, reason === undefined ? {} : { reason });
      return done(`${action.id}: ${action.status}${action.reason === null ? '' : ` (${action.reason})`}`, action);
    },
  };
}

/** The approval commands: list pending actions, accept or reject one. Authorized by the product like the API. */
export const approvalCommands: readonly AdminCommand[] = [
  {
    words: ['approvals', 'list'],
    usage: `approvals list [--agent <agent>] [--status ${pendingActionStatuses.join('|')}] [--limit <n>] [--cursor <cursor>] [--tenant <slug>] --as <email>`,
    options: { agent: { type: 'string' }, status: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' } },
    positionals: 0,
    async run({ context, scope, values }) {
      const agent = optional(values, 'agent');
      const status = optional(values, 'status') === undefined ? undefined : oneOf(values, 'status', { options: pendingActionStatuses });
      const actions = await listPendingActions(context, await scope(), { ...page(values), ...(agent === undefined ? {} : { agent }), ...(status === undefined ? {} : { status }) });
      const footer = nextPage(actions.nextCursor);
      return { kind: 'rows', columns: ['id', 'status', 'tool', 'summary', 'job', 'expires'], rows: actions.items.map(actionRow), ...(footer === undefined ? {} : { footer }), value: actions };
    },
  },
  decisionCommand('accept'),
  decisionCommand('reject'),
];
