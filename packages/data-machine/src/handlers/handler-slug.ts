import { z } from 'zod';

/** A handler's slug: 1 to 64 lowercase letters, digits and inner `_` or `-` (`json_items`). */
export const handlerSlugSchema = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$/, 'a handler slug is 1 to 64 lowercase letters, digits or inner "_" or "-"');
