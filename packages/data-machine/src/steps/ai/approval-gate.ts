import { isDeepStrictEqual } from 'node:util';
import type { ApprovalDecision, ConversationResult, PendingApproval, ToolMediator } from '@data-machine/agents-api';
import { approvalSignal, type PendingAction } from '../../approvals/pending-action';
import { decideAction, holdPendingAction, settleAction, stepPendingActions } from '../../approvals/pending-action-repository';
import { expiredReason } from '../../approvals/approval-resolution';
import { resolveToolMode } from '../../approvals/tool-mode';
import type { DataMachineContext } from '../../context';
import { DataMachineError } from '../../errors';
import { inTenant } from '../../scope/tenant-transaction';
import type { StepContext } from '../step';
import type { AiStepWorld } from './ai-step-world';
import type { PublishTool } from './publish-tools';

/** How long a held call waits for a human by default: one day. */
export const defaultApprovalTtlMs = 24 * 60 * 60 * 1000;

/** What the run waits on, or the decisions it goes on with. */
export type GateOutcome =
  | { readonly kind: 'wait'; readonly signal: string; readonly until: Date }
  | { readonly kind: 'decided'; readonly approvals: readonly ApprovalDecision[] };

/**
 * The human side of an `ai` step's run: which publish tools are `preview`
 * (held for approval), the pending action each held call becomes, and the
 * decisions a resumed run applies. The held call in the transcript is what
 * runs on acceptance; the stored action is its copy, shown to the approver,
 * and checked against it before it runs.
 */
export interface ApprovalGate {
  /** Holds calls of `preview` tools; undefined when no tool is. */
  readonly mediator: ToolMediator | undefined;
  /** Publish step keys a human rejected: the step completes without them. */
  readonly declined: Map<string, string>;
  /** Stores the held calls as pending actions (once) and says whether the run waits or goes on. */
  decide(pending: readonly PendingApproval[]): Promise<GateOutcome>;
  /** Records how the accepted calls a resumed run executed ended: `accepted` or `failed`. */
  settle(approvals: readonly ApprovalDecision[], result: ConversationResult): Promise<void>;
}

/** What {@link createApprovalGate} needs. */
export interface ApprovalGateOptions {
  readonly context: DataMachineContext;
  readonly step: StepContext;
  readonly world: AiStepWorld;
  readonly tools: readonly PublishTool[];
  readonly approvalTtlMs?: number;
}

/**
 * Decides each publish tool's mode by the agent's rules (job mode: no chat
 * preset); a `forbidden` one is `ai.tool_denied`, since the run must call it.
 * Reads the step's earlier decisions, so a re-run knows what was rejected.
 */
export async function createApprovalGate(options: ApprovalGateOptions): Promise<ApprovalGate> {
  const { context, step, world, tools } = options;
  const config = world.agent.effectiveConfig;
  const previewed = new Set<string>();
  for (const entry of tools) {
    const { mode, source } = resolveToolMode({ name: entry.toolName, category: 'publish', publishes: true }, { deny: config.toolPolicy?.deny ?? [], ...(config.toolModes === undefined ? {} : { agent: config.toolModes }), runMode: 'job' });
    if (mode === 'forbidden') {
      throw new DataMachineError('ai.tool_denied', `The run may not use the required tool "${entry.toolName}" (forbidden by ${source}); see the agent's tool modes.`, {
        details: { tool: entry.toolName, reason: 'forbidden' },
      });
    }
    if (mode === 'preview') previewed.add(entry.toolName);
  }
  const stepKeyOf = new Map(tools.map((entry) => [entry.toolName, entry.stepKey]));
  const declined = new Map<string, string>();
  const noteRejected = (action: PendingAction) => {
    const stepKey = stepKeyOf.get(action.toolName);
    if (action.status === 'rejected' && stepKey !== undefined) declined.set(stepKey, action.reason ?? 'Rejected by the approver.');
  };
  const earlier = await inTenant(context, step.tenantId, null, (trx) => stepPendingActions(trx, step.jobId, step.step.key));
  for (const action of earlier.values()) noteRejected(action);
  const ttl = options.approvalTtlMs ?? defaultApprovalTtlMs;

  return {
    mediator: previewed.size === 0 ? undefined : { mediate: (call) => (previewed.has(call.name) ? { action: 'hold', reason: `"${call.name}" waits for a person to approve it.` } : { action: 'proceed' }) },
    declined,
    async decide(pending) {
      const actions = await inTenant(context, step.tenantId, null, async (trx) => {
        const held: { readonly call: PendingApproval; action: PendingAction }[] = [];
        for (const call of pending) {
          let action = await holdPendingAction(context, trx, step.tenantId, describeCall(step, world, stepKeyOf, call, new Date(context.now().getTime() + ttl)));
          // Past its expiry with no decision (the job's deadline woke it before the sweep ran): rejected now.
          if (action.status === 'pending' && context.now().getTime() >= action.expiresAt.getTime()) {
            action = await decideAction(context, trx, action.id, { to: 'rejected', decidedBy: null, decidedVia: 'expiry', reason: expiredReason });
          }
          held.push({ call, action });
        }
        if (held.some(({ action }) => action.status === 'pending')) return { held, approvals: [] };
        const approvals: ApprovalDecision[] = [];
        for (const { call, action } of held) {
          const decision = decisionFor(call, action);
          // An accepted action whose stored call is not the held one is never run: it failed.
          if (!decision.approved && action.status !== 'rejected') await settleAction(context, trx, action.id, { status: 'failed', result: { reason: decision.reason ?? null } });
          approvals.push(decision);
        }
        return { held, approvals };
      });
      const waiting = actions.held.find(({ action }) => action.status === 'pending');
      if (waiting) return { kind: 'wait', signal: approvalSignal(waiting.action.id), until: waiting.action.expiresAt };
      for (const { action } of actions.held) noteRejected(action);
      return { kind: 'decided', approvals: actions.approvals };
    },
    async settle(approvals, result) {
      const approved = approvals.filter((decision) => decision.approved);
      if (approved.length === 0) return;
      await inTenant(context, step.tenantId, null, async (trx) => {
        const byCall = await stepPendingActions(trx, step.jobId, step.step.key);
        for (const decision of approved) {
          const action = byCall.get(decision.toolCallId);
          const execution = result.toolExecutions.find((candidate) => candidate.toolCallId === decision.toolCallId);
          if (!action || !execution) continue;
          await settleAction(context, trx, action.id, { status: execution.outcome === 'success' ? 'accepted' : 'failed', result: { outcome: execution.outcome, content: execution.content } });
        }
      });
    },
  };
}

/** The pending action a held call becomes: its exact input, and what the approver is shown. */
function describeCall(step: StepContext, world: AiStepWorld, stepKeyOf: ReadonlyMap<string, string>, { toolCall }: PendingApproval, expiresAt: Date) {
  const input = parseArguments(toolCall.arguments);
  const stepKey = stepKeyOf.get(toolCall.name);
  const target = world.steps.find((candidate) => candidate.key === stepKey);
  const handler = target !== undefined && 'handler' in target ? target.handler : undefined;
  return {
    agentId: step.agentId,
    jobId: step.jobId,
    stepKey: step.step.key,
    toolCallId: toolCall.id,
    kind: 'publish',
    summary: `Publish through step "${stepKey ?? toolCall.name}"${handler === undefined ? '' : ` (${handler})`} of job ${step.jobId}.`,
    preview: { tool: toolCall.name, step: stepKey ?? null, handler: handler ?? null, input },
    toolName: toolCall.name,
    input,
    triggeredBy: world.principal.userId,
    expiresAt,
  };
}

/**
 * The decision the resumed run applies. An accepted action runs the held call
 * from the transcript, which must be exactly the stored input the approver
 * saw; if the two differ, the call is refused rather than run.
 */
function decisionFor({ toolCall }: PendingApproval, action: PendingAction): ApprovalDecision {
  if (action.status === 'rejected') return { toolCallId: toolCall.id, approved: false, ...(action.reason === null ? {} : { reason: action.reason }) };
  const same = action.toolName === toolCall.name && isDeepStrictEqual(action.input, parseArguments(toolCall.arguments));
  if (!same) return { toolCallId: toolCall.id, approved: false, reason: 'What was approved is not the held call; it was not run.' };
  return { toolCallId: toolCall.id, approved: true };
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
