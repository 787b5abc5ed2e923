import { z } from 'zod';

/** How a tool call is treated: `direct` runs it, `preview` asks a human first, `forbidden` never offers the tool. */
export const toolModes = ['direct', 'preview', 'forbidden'] as const;
export type ToolMode = (typeof toolModes)[number];
export const toolModeSchema = z.enum(toolModes);

const ruleKey = z.string().min(1).max(200);

/**
 * An agent's tool modes, stored in its configuration as `toolModes`: a mode
 * per tool name and per tool category. A tool rule wins over a category rule.
 */
export const agentToolModesSchema = z
  .object({
    tools: z.record(ruleKey, toolModeSchema).optional(),
    categories: z.record(ruleKey, toolModeSchema).optional(),
  })
  .strict();
export type AgentToolModes = z.infer<typeof agentToolModesSchema>;

/** Where a run happens: chat previews every publish-type tool unless a stronger rule says otherwise. */
export type RunMode = 'chat' | 'job';

/** What the policy needs to know about one tool. */
export interface ToolModeSubject {
  readonly name: string;
  readonly category?: string;
  /** Whether the tool publishes (writes outside the product): the chat preset previews these. */
  readonly publishes?: boolean;
  /** The mode the tool itself asks for, if any. */
  readonly defaultMode?: ToolMode;
}

/** The rules a tool's mode is decided from. */
export interface ToolModeRules {
  /** Tool names the agent's tool policy denies (`toolPolicy.deny`): always `forbidden`. */
  readonly deny?: readonly string[];
  /** The agent's own rules. */
  readonly agent?: AgentToolModes;
  readonly runMode: RunMode;
  /** The host's default when no rule speaks; default `direct`. */
  readonly globalDefault?: ToolMode;
}

/** Which rule decided, strongest first. */
export type ToolModeSource = 'deny' | 'agent_tool' | 'agent_category' | 'tool_default' | 'mode_preset' | 'global_default';

/** A tool's mode and the rule that decided it. */
export interface ToolModeDecision {
  readonly mode: ToolMode;
  readonly source: ToolModeSource;
}

/**
 * The one rule for a tool's mode. Precedence, first that speaks wins: an
 * explicit deny > the agent's rule for the tool > the agent's rule for its
 * category > the tool's own default > the run mode's preset (chat previews
 * every publish-type tool) > the global default.
 *
 * @example
 * resolveToolMode({ name: 'publish_post', category: 'publish', publishes: true }, { runMode: 'chat' }); // { mode: 'preview', source: 'mode_preset' }
 */
export function resolveToolMode(tool: ToolModeSubject, rules: ToolModeRules): ToolModeDecision {
  if (rules.deny?.includes(tool.name) === true) return { mode: 'forbidden', source: 'deny' };
  const byTool = rules.agent?.tools?.[tool.name];
  if (byTool !== undefined) return { mode: byTool, source: 'agent_tool' };
  const byCategory = tool.category === undefined ? undefined : rules.agent?.categories?.[tool.category];
  if (byCategory !== undefined) return { mode: byCategory, source: 'agent_category' };
  if (tool.defaultMode !== undefined) return { mode: tool.defaultMode, source: 'tool_default' };
  if (rules.runMode === 'chat' && tool.publishes === true) return { mode: 'preview', source: 'mode_preset' };
  return { mode: rules.globalDefault ?? 'direct', source: 'global_default' };
}
