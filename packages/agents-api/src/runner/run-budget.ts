import type { ToolCall } from '../messages/message';
import type { BudgetName, ToolExecution } from './conversation-runner';
import type { ResolvedLimits } from './limits';

/**
 * What one run has spent against its limits, and the spin detector: the
 * loop asks before each model call and each tool call, and reports each
 * step's outcomes. Turns and usage stay the loop's; they are passed in.
 */
export class RunBudget {
  readonly #limits: ResolvedLimits;
  readonly #callsPerTool = new Map<string, number>();
  #toolCalls = 0;
  #tokenWarningSent = false;
  #lastFailure: { readonly key: string; readonly count: number } | undefined;

  constructor(limits: ResolvedLimits) {
    this.#limits = limits;
  }

  /** The budget that forbids another model call, if any. */
  spentBeforeModelCall(turns: number, totalTokens: number): BudgetName | undefined {
    if (turns >= this.#limits.maxTurns) return 'turns';
    if (this.#limits.maxTokens !== undefined && totalTokens >= this.#limits.maxTokens) return 'tokens';
    return undefined;
  }

  /** Counts a tool call against the budgets, or names the budget it would exceed (and does not count it). */
  takeToolCall(call: Pick<ToolCall, 'name'>): BudgetName | undefined {
    const { maxToolCalls, maxCallsPerTool } = this.#limits;
    if (maxToolCalls !== undefined && this.#toolCalls >= maxToolCalls) return 'tool_calls';
    const forTool = this.#callsPerTool.get(call.name) ?? 0;
    if (maxCallsPerTool !== undefined && forTool >= maxCallsPerTool) return 'tool_calls_per_tool';
    this.#toolCalls += 1;
    this.#callsPerTool.set(call.name, forTool + 1);
    return undefined;
  }

  /** The token limit, the first time usage reaches 80 % of it; undefined otherwise. */
  tokenWarning(totalTokens: number): number | undefined {
    const limit = this.#limits.maxTokens;
    if (limit === undefined || this.#tokenWarningSent || totalTokens < limit * 0.8) return undefined;
    this.#tokenWarningSent = true;
    return limit;
  }

  /**
   * Takes in executions in order. The same call (name and arguments) failing
   * `maxRepeatedFailures` times in a row is a stall: returns that call.
   */
  stalledCall(execution: ToolExecution): ToolCall | undefined {
    if (execution.outcome !== 'error') {
      this.#lastFailure = undefined;
      return undefined;
    }
    const key = `${execution.toolName}\u0000${JSON.stringify(execution.arguments)}`;
    this.#lastFailure = this.#lastFailure?.key === key ? { key, count: this.#lastFailure.count + 1 } : { key, count: 1 };
    if (this.#lastFailure.count < this.#limits.maxRepeatedFailures) return undefined;
    return { id: execution.toolCallId, name: execution.toolName, arguments: JSON.stringify(execution.arguments) };
  }
}
