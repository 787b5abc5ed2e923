import { z } from 'zod';

const toolNames = z.array(z.string().min(1)).readonly();

/**
 * Which of the available tools a run offers the model. Applied in this order:
 * 1. `categories`: keep tools in these categories (and mandatory tools).
 * 2. `allow`: keep these names (and mandatory tools).
 * 3. `allowOnly`: keep exactly these names; mandatory tools get no exception.
 * 4. `deny`: remove these names, always, mandatory or not.
 * Client-side tools are offered only when `allow` or `allowOnly` names them.
 * An autonomous principal (token, runtime, system, or a schedule) keeps
 * tools that write only with `allowAutonomousWrites: true`.
 * A missing list does not filter.
 */
export const toolPolicySchema = z.object({
  categories: toolNames.optional(),
  allow: toolNames.optional(),
  allowOnly: toolNames.optional(),
  deny: toolNames.optional(),
  allowAutonomousWrites: z.boolean().optional(),
});
export type ToolPolicy = z.infer<typeof toolPolicySchema>;
