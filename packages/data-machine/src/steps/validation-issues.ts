import type { z } from 'zod';
import { DataMachineError, type DataMachineErrorCode } from '../errors';
import { describeInputIssues, inputIssues, type InputIssue } from '../input-issues';

/** One problem with a definition, at a dotted field path (`steps.publish.handlerConfig.collection`). */
export type ValidationIssue = InputIssue;

/** The issues of a zod error (parse with `safeParseInput` for the operator's wording), their paths under `prefix`. */
export function zodIssues(error: z.ZodError, prefix: readonly (string | number)[]): ValidationIssue[] {
  return inputIssues(error, prefix);
}

/**
 * Throws `code` listing every issue, the first in the message, unless there
 * are none. Callers collect all issues first, so one answer names them all.
 */
export function throwIssues(code: DataMachineErrorCode, what: string, issues: readonly ValidationIssue[], details: Readonly<Record<string, unknown>> = {}): void {
  if (issues.length === 0) return;
  throw new DataMachineError(code, describeInputIssues(what, issues), { details: { ...details, issues } });
}
