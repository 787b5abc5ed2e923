import { DataMachineError, type DataMachineErrorCode } from '../errors';
import { HandlerError } from '../handlers/handler-error';
import type { StepType } from '../steps/step';

/** How a step type's failures are retried: at most `maxAttempts` starts of the job, waiting `backoffMs(attempt)` after each failed one. */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly backoffMs: (attempt: number) => number;
}

/** Per step type; a type not named gets {@link defaultRetryPolicy}. */
export type RetryPolicies = Partial<Record<StepType, RetryPolicy>>;

/** Three attempts, one second doubling, at most five minutes. */
export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 3, backoffMs: (attempt) => Math.min(1000 * 2 ** Math.max(attempt - 1, 0), 5 * 60 * 1000) };

// Failures another attempt cannot fix: the configuration, the rights, the pipeline itself.
const permanentCodes: ReadonlySet<DataMachineErrorCode> = new Set<DataMachineErrorCode>([
  'input.invalid',
  'access.denied',
  'flow.invalid_config',
  'flow.not_found',
  'pipeline.not_found',
  'pipeline.invalid_steps',
  'handler.not_found',
  'step.not_registered',
  'step.unsafe_retry',
  'step.unsupported',
  // The ai step's permanent failures (see retryableAiStepCodes for the two a retry may pass).
  'ai.invalid_input',
  'ai.tool_denied',
  'ai.missing_tool_call',
  'ai.run_failed',
  'ai.run_incomplete',
]);

/**
 * Whether `error` is one retrying cannot fix (bad configuration, forbidden):
 * a `DataMachineError` of such a code, one marked `details.permanent`, or a
 * `HandlerError` that says it is not retryable (a 4xx, a malformed feed).
 */
export function isPermanentError(error: unknown): boolean {
  if (HandlerError.isInstance(error) && !error.retryable) return true;
  return DataMachineError.isInstance(error) && (permanentCodes.has(error.code) || error.details?.permanent === true);
}
