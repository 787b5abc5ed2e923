import type { z } from 'zod';
import { DataMachineError, type DataMachineErrorCode } from '../errors';

/** One problem with a definition, at a dotted field path (`steps.publish.handlerConfig.collection`). */
export interface ValidationIssue {
  readonly path: string;
  readonly message: string;
}

/** The issues of a zod error, their paths under `prefix`. */
export function zodIssues(error: z.ZodError, prefix: readonly (string | number)[]): ValidationIssue[] {
  return error.issues.map((issue) => ({ path: [...prefix, ...issue.path.map(String)].join('.'), message: issue.message }));
}

/**
 * Throws `code` listing every issue, the first in the message, unless there
 * are none. Callers collect all issues first, so one answer names them all.
 */
export function throwIssues(code: DataMachineErrorCode, what: string, issues: readonly ValidationIssue[], details: Readonly<Record<string, unknown>> = {}): void {
  const [first] = issues;
  if (first === undefined) return;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  throw new DataMachineError(code, `Invalid ${what}: ${first.path}: ${first.message}${more}`, { details: { ...details, issues } });
}
