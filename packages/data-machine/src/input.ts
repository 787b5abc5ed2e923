import { z } from 'zod';
import { DataMachineError } from './errors';
import { describeInputIssues, inputIssues, safeParseInput } from './input-issues';

/**
 * Validates input at the product's edge; throws `input.invalid` with each
 * issue's field path, before anything is written.
 */
export function parseInput<Schema extends z.ZodType>(schema: Schema, value: unknown, what: string): z.infer<Schema> {
  const parsed = safeParseInput(schema, value);
  if (parsed.success) return parsed.data;
  const issues = inputIssues(parsed.error);
  throw new DataMachineError('input.invalid', describeInputIssues(what, issues), { details: { issues } });
}

/** A slug: 1 to 64 lowercase letters, digits and inner hyphens (`my-agent`). */
export const slugSchema = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, 'a slug is 1 to 64 lowercase letters, digits or inner "-"');

/** A display name: 1 to 200 characters, no control characters. */
export const nameSchema = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((value) => !/[\u0000-\u001f]/.test(value), { message: 'a name has no control characters' });
