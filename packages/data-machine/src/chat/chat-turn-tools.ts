import { isDeepStrictEqual } from 'node:util';
import type { AnyToolDefinition, ApprovalDecision, MediatorDecision, ToolCall, ToolMediator } from '@data-machine/agents-api';
import { actingUserId } from '../access/actor';
import { decide } from '../access/authorize';
import { expiredReason } from '../approvals/approval-resolution';
import type { PendingAction } from '../approvals/pending-action';
import { decideAction, holdSessionAction, findSessionAction, markRejectionsDelivered, settleAction, undeliveredSessionActions } from '../approvals/pending-action-repository';
import { resolveToolMode, type ToolMode } from '../approvals/tool-mode';
import { DataMachineError } from '../errors';
import { loadAccess, type CurrentAccess } from '../scope/scope';
import { inTenant, type TenantTransaction } from '../scope/tenant-transaction';
import { chatTools, type ChatTool, type ChatToolPreview, type ChatToolsWorld } from './chat-tools';

/** How long a call a chat turn held waits for a decision by default: one day. */
export const defaultChatApprovalTtlMs = 24 * 60 * 60 * 1000;

/** What {@link openChatTools} needs besides the world. */
export interface ChatTurnToolsOptions {
  /** The session the turn continues; absent for a new session (no decisions to apply). */
  readonly resumedSessionId?: string | undefined;
  readonly approvalTtlMs?: number | undefined;
  /** False for a turn whose session will not outlive it: no one could apply a decision, so `preview` tools are not offered. */
  readonly holdable?: boolean | undefined;
}

/** A tool offered to one chat turn, and the mode it was offered in. */
export interface OfferedChatTool {
  readonly name: string;
  readonly mode: Exclude<ToolMode, 'forbidden'>;
}

/** The server-side tools of one chat turn and what the turn does with held calls. */
export interface ChatTurnTools {
  /** The tools the caller may use and the agent's modes do not forbid. */
  readonly tools: readonly AnyToolDefinition[];
  readonly offered: readonly OfferedChatTool[];
  /** Holds calls of `preview` tools, each stored as a pending action of the session before the run reports it. */
  readonly mediator: ToolMediator;
  /** The actions this turn held, by tool call id. */
  readonly held: ReadonlyMap<string, PendingAction>;
  /** The decisions the turn applies first: every decided action of the session the transcript has not had. */
  readonly approvals: readonly ApprovalDecision[];
  /** Records that the turn told the model its rejections; call once its run has ended. */
  finish(): Promise<void>;
}

/**
 * Opens the product's chat tools for one turn, acting as the caller. A tool is
 * offered only if the caller may do what it does (`tools.use` and the tool's
 * own action, decided by the access module) and the agent's tool modes in
 * chat mode do not forbid it. A `preview` tool's call is held as a pending
 * action of the session; only an accepted action for exactly that call lets
 * it run, on the session's next turn. A session still waiting for a decision
 * is `approval.pending`: the turn would otherwise answer the held call as
 * undecided. A new session's tools are decided on the scope's rights (read
 * with the request), without a statement; a resumed session's in the
 * transaction that applies its decisions.
 *
 * @example
 * const turn = await openChatTools({ context, scope, agent, engine, sessionId: async () => id }, { resumedSessionId: id });
 * // run with turn.tools, turn.mediator and turn.approvals; then await turn.finish()
 */
export async function openChatTools(world: ChatToolsWorld, options: ChatTurnToolsOptions = {}): Promise<ChatTurnTools> {
  const { context, scope } = world;
  const { resumedSessionId } = options;
  // A new session has no decisions to apply, so nothing is written: its tools are decided on the
  // rights the request was authorized with, in no transaction. Each tool still authorizes its own
  // work when called. See docs/decisions/2026-12-01-chat-first-byte.md.
  const { allowed, waiting } =
    resumedSessionId === undefined
      ? { allowed: allowedChatTools(world, scope, context.now()), waiting: [] }
      : await inTenant(context, scope.tenantId, actingUserId(scope.actor), async (trx) => {
          const access = await loadAccess(trx, scope);
          const now = context.now();
          const undelivered = await undeliveredSessionActions(trx, resumedSessionId);
          const decided: PendingAction[] = [];
          for (const action of undelivered) {
            // Past its expiry with no decision (before the sweep ran): rejected now.
            const expired = action.status === 'pending' && now.getTime() >= action.expiresAt.getTime();
            decided.push(expired ? await decideAction(context, trx, action.id, { to: 'rejected', decidedBy: null, decidedVia: 'expiry', reason: expiredReason }) : action);
          }
          return { allowed: allowedChatTools(world, access, now), waiting: decided };
        });
  const stillPending = waiting.filter((action) => action.status === 'pending');
  if (stillPending.length > 0) {
    const ids = stillPending.map((action) => action.id);
    throw new DataMachineError('approval.pending', `The session waits for a decision on ${ids.join(', ')}: accept or reject it first.`, { details: { actions: ids } });
  }
  const approvals: ApprovalDecision[] = waiting.map((action) =>
    action.status === 'applying' ? { toolCallId: action.toolCallId, approved: true } : { toolCallId: action.toolCallId, approved: false, ...(action.reason === null ? {} : { reason: action.reason }) },
  );
  const rejectedIds = waiting.filter((action) => action.status === 'rejected').map((action) => action.id);

  const { agent } = world;
  const config = agent.effectiveConfig;
  const offered: OfferedChatTool[] = [];
  const tools: AnyToolDefinition[] = [];
  const previewed = new Map<AnyToolDefinition, ChatTool>();
  for (const tool of allowed) {
    const { name } = tool.definition;
    const { mode } = resolveToolMode({ name, category: tool.category, publishes: tool.publishes }, { deny: config.toolPolicy?.deny ?? [], ...(config.toolModes === undefined ? {} : { agent: config.toolModes }), runMode: 'chat' });
    if (mode === 'forbidden' || (mode === 'preview' && options.holdable === false)) continue;
    offered.push({ name, mode });
    const definition = mode === 'preview' ? guarded(world, tool) : tool.definition;
    if (mode === 'preview') previewed.set(definition, tool);
    tools.push(definition);
  }

  const held = new Map<string, PendingAction>();
  const ttl = options.approvalTtlMs ?? defaultChatApprovalTtlMs;
  const hold = async (call: ToolCall, tool: ChatTool, definition: AnyToolDefinition): Promise<MediatorDecision> => {
    const parsed = definition.input.safeParse(parseArguments(call.arguments));
    // Bad arguments are not worth a human's time: the loop answers them with the validation error.
    if (!parsed.success) return { action: 'proceed' };
    const input = parseArguments(call.arguments);
    let described: ChatToolPreview;
    try {
      described = tool.describe === undefined ? { summary: `Call ${call.name}.`, preview: { tool: call.name, input } } : await tool.describe(input);
    } catch (error) {
      // A call that names nothing the caller can see (an unknown flow) is told to the model, not held.
      if (DataMachineError.isInstance(error)) return { action: 'reject', reason: error.message };
      throw error;
    }
    const { summary, preview } = described;
    const sessionId = await world.sessionId();
    const action = await inTenant(context, scope.tenantId, actingUserId(scope.actor), (trx) =>
      holdSessionAction(context, trx, scope.tenantId, {
        agentId: agent.id,
        sessionId,
        toolCallId: call.id,
        kind: tool.category,
        summary,
        preview,
        toolName: call.name,
        input,
        triggeredBy: actingUserId(scope.actor),
        expiresAt: new Date(context.now().getTime() + ttl),
      }),
    );
    held.set(call.id, action);
    return { action: 'hold', reason: `"${call.name}" waits for a person to approve it (pending action ${action.id}).` };
  };

  return {
    tools,
    offered,
    mediator: {
      mediate: (call, definition) => {
        const tool = definition === undefined ? undefined : previewed.get(definition);
        return tool === undefined || definition === undefined ? { action: 'proceed' } : hold(call, tool, definition);
      },
    },
    held,
    approvals,
    async finish() {
      if (rejectedIds.length === 0) return;
      await inTenant(context, scope.tenantId, actingUserId(scope.actor), (trx) => markRejectionsDelivered(context, trx, rejectedIds));
    },
  };
}

/** The chat tools `access` may use on the agent: `tools.use`, and each tool's own action. */
function allowedChatTools(world: ChatToolsWorld, access: CurrentAccess, now: Date): readonly ChatTool[] {
  const target = { tenantId: world.scope.tenantId, agentId: world.agent.id };
  const may = (action: ChatTool['action'] | 'tools.use') => decide(access.actor, access.facts, action, target, now).allowed;
  return may('tools.use') ? chatTools(world).filter((tool) => may(tool.action)) : [];
}

/**
 * A `preview` tool that runs only for an accepted action of this session
 * whose stored call is exactly the one being run (what the approver saw), and
 * records how it ended: `accepted` or `failed`, with the result. The tool
 * runs outside the check's transaction (it opens its own); a call run twice
 * still acts once, because the chat tools key their effect by session and
 * tool call (`run_flow`'s idempotency key).
 */
function guarded(world: ChatToolsWorld, tool: ChatTool): AnyToolDefinition {
  const { context, scope } = world;
  const { definition } = tool;
  const inCallerTenant = <T>(work: (trx: TenantTransaction) => Promise<T>) => inTenant(context, scope.tenantId, actingUserId(scope.actor), work);
  return {
    ...definition,
    async execute(input, execution) {
      const sessionId = await world.sessionId();
      const action = await inCallerTenant((trx) => findSessionAction(trx, sessionId, execution.toolCallId));
      const stored = action === undefined ? undefined : definition.input.safeParse(action.input);
      if (action?.status !== 'applying' || action.toolName !== definition.name || !stored?.success || !isDeepStrictEqual(stored.data, input)) {
        throw new DataMachineError('approval.not_accepted', `"${definition.name}" runs only once a person has accepted exactly this call.`, {
          details: { tool: definition.name, toolCallId: execution.toolCallId, status: action?.status ?? null },
        });
      }
      let outcome: { readonly status: 'accepted' | 'failed'; readonly result: unknown };
      let result: unknown;
      try {
        result = await definition.execute(input, execution);
        outcome = { status: 'accepted', result: { outcome: 'success', content: result } };
      } catch (error) {
        await inCallerTenant((trx) => settleAction(context, trx, action.id, { status: 'failed', result: { outcome: 'error', message: error instanceof Error ? error.message : String(error) } }));
        throw error;
      }
      await inCallerTenant((trx) => settleAction(context, trx, action.id, outcome));
      return result;
    },
  };
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
