import { inputIssues, safeParseInput, type InputIssue } from 'data-machine';
import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';

/**
 * A part of a request (body, query, params, headers) that does not fit its
 * route's schema. The error handler answers it 400 `input.invalid`, each
 * issue's path under the part (`query.limit`).
 */
export class RequestInputError extends Error {
  override readonly name = 'RequestInputError';
  /** Set by Fastify to the part that failed: `body`, `querystring`, `params` or `headers`. */
  validationContext?: string;

  constructor(readonly issues: readonly InputIssue[]) {
    super('The request does not fit the route\'s schema.');
  }
}

/**
 * Validates a request part with its route's zod schema, wording each issue
 * for the caller with the product's `inputErrorMap` (what was sent, not what
 * a coercion made of it: `must be a number, not "abc"`).
 */
export const requestValidatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema }) =>
  (data: unknown) => {
    const result = safeParseInput(schema, data);
    return result.success ? { value: result.data } : { error: new RequestInputError(inputIssues(result.error)) };
  };
