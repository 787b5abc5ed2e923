import { toolPolicySchema } from '@data-machine/agents-api';
import { z } from 'zod';
import { agentToolModesSchema } from '../approvals/tool-mode';

/**
 * An agent's configuration, stored as JSON on its row and validated on every
 * write: its instructions, model, tool policy and the seeds its memory files
 * are scaffolded from. An install of a template stores only what it overrides.
 */
export const agentConfigSchema = z
  .object({
    instructions: z.string().max(100_000).optional(),
    model: z.string().min(1).max(200).optional(),
    toolPolicy: toolPolicySchema.optional(),
    /** Per tool and per category: `direct`, `preview` (a human approves each call) or `forbidden`. See `resolveToolMode`. */
    toolModes: agentToolModesSchema.optional(),
    /** Text the agent's SOUL.md is scaffolded from. */
    soulSeed: z.string().max(20_000).optional(),
    /** Initial memory files by name (`MEMORY.md`, …). */
    memorySeeds: z.record(z.string().min(1).max(256), z.string().max(100_000)).optional(),
  })
  .strict();
export type AgentConfig = z.infer<typeof agentConfigSchema>;

/** The effective configuration of an install: the template's, overlaid field by field by the install's own (one hop). */
export function effectiveConfig(template: AgentConfig | undefined, own: AgentConfig): AgentConfig {
  return template === undefined ? own : { ...template, ...own };
}
