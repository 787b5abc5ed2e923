import { z } from 'zod';

/** The error body every failure has (see `error-response.ts`). */
export const errorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
});

/** An instant as JSON: ISO 8601 with a zone. */
export const instantSchema = z.iso.datetime({ offset: true });

/** A Date as JSON, or null. */
export function instant(date: Date): string;
export function instant(date: Date | null): string | null;
export function instant(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

/** The error responses a route that acts in a scope can give. */
export const scopedErrors = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
  404: errorBodySchema,
  409: errorBodySchema,
  429: errorBodySchema,
} as const;

/** The error responses of a route that also takes a body (which may be too large). */
export const bodyErrors = { ...scopedErrors, 413: errorBodySchema } as const;

/** A page of a cursor-paginated list: at most `limit` items (1 to 200, default 50) after `cursor`. */
export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).optional(),
  cursor: z.string().min(1).max(500).optional(),
});


/**
 * A reference in a path (an id or slug): 1 to 200 characters, none of them a
 * control character (a database cannot compare text with U+0000), so a bad
 * one is a 400 naming the parameter, never a failed query.
 */
export const pathReferenceSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\u0000-\u001f]*$/, 'no control characters');

/** Security requirement of every authenticated route. */
export const bearer = [{ bearer: [] }];
