import { AgentsApiError, type ConversationResult } from '@data-machine/agents-api';
import { DataMachineError, type DataMachineErrorCode } from '../../errors';

/**
 * The `ai` step's codes that may pass when the job is tried again: the model
 * or a store was unavailable (a provider timeout, 5xx or rate limit, a busy
 * session), or the run was cancelled before it finished. Every other failure
 * of the step is permanent: an invalid request, a denial, a missing tool call.
 */
export const retryableAiStepCodes: readonly DataMachineErrorCode[] = Object.freeze(['ai.unavailable', 'ai.cancelled']);

/** Whether `error` is a failure of an `ai` step that a retry of the job may get past (see {@link retryableAiStepCodes}). */
export function isRetryableAiStepError(error: unknown): boolean {
  return DataMachineError.isInstance(error) && retryableAiStepCodes.includes(error.code);
}

/** Where a run happened, for the details of its errors. */
export interface RunPlace {
  readonly sessionId: string;
  readonly runId: string;
}

/** A run that did not complete, as the ended result the session runner returned. */
export type UnfinishedResult = Exclude<ConversationResult, { readonly status: 'completed' }>;

/**
 * Whether a stored run ended in a way a later attempt should go on from
 * (with a new run on the same session) rather than return: the model failed
 * retryably or the run was cancelled. Nothing it completed is done again.
 */
export function isContinuable(result: ConversationResult): boolean {
  return result.status === 'cancelled' || (result.status === 'failed' && result.failure.retryable);
}

/** The typed error for a run that ended without completing. */
export function unfinishedRunError(result: UnfinishedResult, place: RunPlace): DataMachineError {
  switch (result.status) {
    case 'failed': {
      const { code, message, retryable } = result.failure;
      return aiError(retryable ? 'ai.unavailable' : 'ai.run_failed', `The agent's run failed (${code}): ${message}`, { ...place, failureCode: code });
    }
    case 'cancelled':
      return aiError('ai.cancelled', 'The agent\'s run was cancelled before it finished.', { ...place });
    default:
      return aiError('ai.run_incomplete', `The agent's run ended ${result.status} instead of completing.`, { ...place, status: result.status, ...incompleteDetails(result) });
  }
}

/**
 * The typed error for what the session runner threw: the substrate's
 * retryable codes (a busy session, a failed store) are `ai.unavailable`,
 * its others `ai.run_failed`; the product's own errors pass through.
 */
export function thrownRunError(error: unknown): unknown {
  if (!AgentsApiError.isInstance(error)) return error;
  const code = error.retryable ? 'ai.unavailable' : 'ai.run_failed';
  return new DataMachineError(code, `The agent's run could not go on (${error.code}): ${error.message}`, {
    details: { failureCode: error.code, retryable: error.retryable },
    cause: error,
  });
}

/** An `ai.*` error whose details say whether a retry may pass. */
export function aiError(code: DataMachineErrorCode, message: string, details: Readonly<Record<string, unknown>> = {}): DataMachineError {
  return new DataMachineError(code, message, { details: { ...details, retryable: retryableAiStepCodes.includes(code) } });
}

function incompleteDetails(result: UnfinishedResult): Readonly<Record<string, unknown>> {
  switch (result.status) {
    case 'budget_exceeded':
      return { budget: result.budget };
    case 'stalled':
      return { tool: result.repeatedCall.name };
    case 'approval_required':
      return { tools: result.pending.map((pending) => pending.toolCall.name) };
    case 'tool_calls_required':
      return { tools: result.pendingToolCalls.map((call) => call.function.name) };
    default:
      return {};
  }
}
