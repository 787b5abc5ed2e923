import { defineTool, type AnyToolDefinition } from '@data-machine/agents-api';
import { z } from 'zod';
import type { Action } from '../access/actions';
import type { Agent } from '../agents/agent-repository';
import type { DataMachineContext } from '../context';
import type { JobEngine } from '../engine/job-engine';
import { runFlowNow } from '../engine/flow-run';
import { getFlow, listFlows } from '../flows/flow-repository';
import type { Job } from '../jobs/job';
import { getJob } from '../jobs/job-repository';
import type { Scope } from '../scope/scope';

/** What a held call shows its approver: a one-line summary and the exact preview. */
export interface ChatToolPreview {
  readonly summary: string;
  readonly preview: unknown;
}

/**
 * A server-side chat tool of the product: the substrate tool, the access
 * action the caller needs for it, and what the tool-mode rule reads
 * (`category`, `publishes`). Every tool acts as the caller, through the
 * product function its HTTP route calls.
 */
export interface ChatTool {
  readonly action: Action;
  readonly category: string;
  /** Changes something outside the conversation: the chat preset previews it. */
  readonly publishes: boolean;
  readonly definition: AnyToolDefinition;
  /** What the approver is shown of a call; read-only tools need none. */
  describe?(input: unknown): Promise<ChatToolPreview>;
}

/** What the chat tools act through: the caller, the agent, the job engine (none: `run_flow` is not offered), the turn's session. */
export interface ChatToolsWorld {
  readonly context: DataMachineContext;
  readonly scope: Scope;
  readonly agent: Agent;
  readonly engine: JobEngine | undefined;
  /** The turn's session id, once the session exists. */
  readonly sessionId: () => Promise<string>;
}

// Module-level, so each schema is converted to JSON Schema once (defineTool caches per schema), not on
// every turn: docs/decisions/2026-12-01-chat-first-byte.md.
const noInput = z.strictObject({});
const flowInput = z.strictObject({ flow: z.string().min(1).max(200).describe("The flow's slug or id") });
const jobInput = z.strictObject({ job: z.string().min(1).max(200).describe("The job's id") });

/** The chat tools of an agent: `list_flows`, `get_job`, and `run_flow` when a job engine runs. */
export function chatTools(world: ChatToolsWorld): readonly ChatTool[] {
  const { context, scope, agent } = world;
  const tools: ChatTool[] = [
    {
      action: 'agent.read',
      category: 'read',
      publishes: false,
      definition: defineTool({
        name: 'list_flows',
        description: "Lists the agent's flows: slug, name, whether paused, schedule.",
        input: noInput,
        retrySafe: true,
        execute: async () => (await listFlows(context, scope, agent.id)).map((flow) => ({ slug: flow.slug, name: flow.name, paused: flow.paused, schedule: flow.schedule })),
      }),
    },
    {
      action: 'logs.read',
      category: 'read',
      publishes: false,
      definition: defineTool({
        name: 'get_job',
        description: "Reads one of the agent's jobs: its status, step and error.",
        input: jobInput,
        retrySafe: true,
        execute: async ({ job }) => jobView(await getJob(context, scope, agent.id, job)),
      }),
    },
  ];
  const { engine } = world;
  if (engine !== undefined) {
    tools.push({
      action: 'flow.run',
      category: 'run',
      publishes: true,
      definition: defineTool({
        name: 'run_flow',
        description: 'Starts a run of one of the agent\'s flows now; answers with the job it started.',
        input: flowInput,
        writes: true,
        // The same call (session and tool call) never starts a second job.
        retrySafe: true,
        execute: async ({ flow }, { toolCallId }) => {
          const idempotencyKey = `chat:${await world.sessionId()}:${toolCallId}`;
          const { job } = await runFlowNow(context, engine, scope, agent.id, flow, { source: 'api', idempotencyKey });
          return jobView(job);
        },
      }),
      async describe(input) {
        const { flow } = flowInput.parse(input);
        const found = await getFlow(context, scope, agent.id, flow);
        return {
          summary: `Run flow "${found.name}" (${found.slug}) of agent "${agent.slug}" now.`,
          preview: { tool: 'run_flow', agent: agent.slug, flow: { slug: found.slug, name: found.name, paused: found.paused }, input },
        };
      },
    });
  }
  return tools;
}

function jobView(job: Job): Record<string, unknown> {
  return { id: job.id, status: job.status, statusReason: job.statusReason, currentStep: job.currentStep, source: job.source, error: job.error, createdAt: job.createdAt.toISOString() };
}
