import { z } from 'zod';

/** A secret's name: 1 to 64 lowercase letters, digits, `_` or `-` (`wordpress_application_password`, `api_token`). */
export const secretNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'a secret name is 1 to 64 lowercase letters, digits, "_" or "-"');
