import type { AgentMessage } from './message';

/** What U+0000 becomes in text a run produced: the replacement character. */
export const nulReplacement = '\uFFFD';

/**
 * Makes a message the run produced storable: every U+0000 in its content and
 * payload becomes U+FFFD, and the payload says so with `nulReplaced: true`.
 * Postgres `text` and `jsonb` cannot hold U+0000, and stores refuse it (see
 * `docs/decisions/2026-11-30-nul-characters.md`); a model or a tool that
 * emits one must not fail the run. Returns the message itself, changed in
 * place, so it must be one the caller just made. The common case, no NUL,
 * costs one scan and allocates nothing.
 */
export function replaceNul(message: AgentMessage): AgentMessage {
  const inContent = message.content.includes('\u0000');
  if (!inContent && !containsNul(message.payload)) return message;
  if (inContent) message.content = message.content.replaceAll('\u0000', nulReplacement);
  const payload = withoutNul(message.payload) as Record<string, unknown>;
  payload.nulReplaced = true;
  message.payload = payload as never;
  return message;
}

/** Whether a string, or any string or key inside arrays and objects, holds U+0000. */
export function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some(containsNul);
  for (const key in value) {
    if (key.includes('\u0000') || containsNul((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/** A copy with U+0000 replaced in every string and key; other values are shared. */
function withoutNul(value: unknown): unknown {
  if (typeof value === 'string') return value.replaceAll('\u0000', nulReplacement);
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(withoutNul);
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) copy[key.replaceAll('\u0000', nulReplacement)] = withoutNul((value as Record<string, unknown>)[key]);
  return copy;
}
