import { z } from 'zod';
import { AgentsApiError } from '../errors';
import { memoryLayerSchema, memoryPathSchema, type MemoryScope, type MemoryStore } from './memory-store';

/** One file a memory prompt may include; a lower `priority` comes first and is kept first. */
export interface MemoryPromptFile {
  readonly layer: string;
  readonly path: string;
  readonly priority: number;
}

/** Whose memory to compose: files of layer `user` are read only when `userId` is not null. */
export interface MemoryPromptTarget {
  /** The tenant, or null for none: the `tenantId` of the principal. */
  readonly tenantId: string | null;
  readonly agentSlug: string;
  readonly userId: string | null;
}

/** Options of {@link composeMemoryPrompt}. */
export interface ComposeMemoryPromptOptions {
  /** The longest prompt, in characters (UTF-16 code units); 24 000 unless given. */
  readonly maxChars?: number;
  /** The files to consider; {@link defaultMemoryPromptFiles} unless given. */
  readonly files?: readonly MemoryPromptFile[];
}

/** A file in the prompt; `chars` is the length of its section. */
export interface IncludedMemoryPromptFile extends MemoryPromptFile {
  readonly chars: number;
}

/** A file left out whole because its section did not fit in what was left of `maxChars`. */
export interface DroppedMemoryPromptFile extends MemoryPromptFile {
  readonly chars: number;
  readonly reason: 'budget';
}

/** A file not considered: blank (`empty`) or of layer `user` with no user (`no_user`). */
export interface SkippedMemoryPromptFile extends MemoryPromptFile {
  readonly reason: 'empty' | 'no_user';
}

/** What {@link composeMemoryPrompt} built, and what became of every file. */
export interface ComposedMemoryPrompt {
  /** `## path` sections joined by blank lines; `''` when no file was included. */
  readonly prompt: string;
  readonly included: readonly IncludedMemoryPromptFile[];
  readonly dropped: readonly DroppedMemoryPromptFile[];
  readonly skipped: readonly SkippedMemoryPromptFile[];
  readonly missing: readonly MemoryPromptFile[];
}

/** The files a prompt is composed of unless told otherwise, in priority order. */
export const defaultMemoryPromptFiles: readonly MemoryPromptFile[] = Object.freeze(
  [
    { layer: 'site', path: 'SITE.md', priority: 10 },
    { layer: 'site', path: 'RULES.md', priority: 15 },
    { layer: 'agent', path: 'SOUL.md', priority: 20 },
    { layer: 'user', path: 'USER.md', priority: 25 },
    { layer: 'agent', path: 'MEMORY.md', priority: 30 },
  ].map((file) => Object.freeze(file)),
);

const defaultMaxChars = 24_000;
const sectionSeparator = '\n\n';

const optionsSchema = z.object({
  maxChars: z.number().int().positive().default(defaultMaxChars),
  files: z
    .array(z.object({ layer: memoryLayerSchema, path: memoryPathSchema, priority: z.number().finite() }))
    .readonly()
    .default(defaultMemoryPromptFiles),
});

type FileRead = { readonly file: MemoryPromptFile } & (
  | { readonly status: 'found'; readonly section: string }
  | { readonly status: 'missing' | 'empty' | 'no_user' }
);

/**
 * Builds the memory part of a system prompt from an agent's memory files,
 * within a character budget. A file that does not fit is left out whole,
 * never cut, and a later smaller file may still fit; the result says which.
 *
 * @example
 * const { prompt, dropped } = await composeMemoryPrompt(store, { tenantId: principal.tenantId, agentSlug: 'helper', userId: principal.userId });
 * // prompt: '## SITE.md\n\n…\n\n## SOUL.md\n\n…'
 */
export async function composeMemoryPrompt(
  store: MemoryStore,
  target: MemoryPromptTarget,
  options: ComposeMemoryPromptOptions = {},
): Promise<ComposedMemoryPrompt> {
  const { maxChars, files } = parseOptions(options);
  // sort is stable: files of equal priority keep the order they were given in.
  const ordered = [...files].sort((left, right) => left.priority - right.priority);
  const reads = await readFiles(store, target, ordered);

  const sections: string[] = [];
  const included: IncludedMemoryPromptFile[] = [];
  const dropped: DroppedMemoryPromptFile[] = [];
  const skipped: SkippedMemoryPromptFile[] = [];
  const missing: MemoryPromptFile[] = [];
  let remaining = maxChars;
  for (const read of reads) {
    const file = copyFile(read.file);
    if (read.status === 'missing') missing.push(file);
    else if (read.status !== 'found') skipped.push({ ...file, reason: read.status });
    else {
      const chars = read.section.length;
      const cost = chars + (sections.length === 0 ? 0 : sectionSeparator.length);
      if (cost > remaining) dropped.push({ ...file, chars, reason: 'budget' });
      else {
        sections.push(read.section);
        included.push({ ...file, chars });
        remaining -= cost;
      }
    }
  }
  return { prompt: sections.join(sectionSeparator), included, dropped, skipped, missing };
}

/** Reads the files, in one call of `readMany` when the store has it (one query instead of one a file). */
async function readFiles(store: MemoryStore, target: MemoryPromptTarget, files: readonly MemoryPromptFile[]): Promise<readonly FileRead[]> {
  // A user file belongs to one user; with no user there is nobody's to read,
  // and reading it with userId null would pick up a file of no user instead.
  const wanted = files.filter((file) => file.layer !== 'user' || target.userId !== null);
  const scopes = wanted.map((file): MemoryScope => ({
    layer: file.layer,
    tenantId: target.tenantId,
    agentSlug: target.agentSlug,
    userId: file.layer === 'user' ? target.userId : null,
    path: file.path,
  }));
  const results = store.readMany ? await store.readMany(scopes) : await Promise.all(scopes.map((scope) => store.read(scope)));
  let next = 0;
  return files.map((file): FileRead => {
    if (file.layer === 'user' && target.userId === null) return { file, status: 'no_user' };
    const read = results[next++];
    if (read === undefined) throw new AgentsApiError('memory.store_failed', `The memory store's readMany gave ${results.length} results for ${scopes.length} files.`);
    if (!read.exists) return { file, status: 'missing' };
    const content = read.content.trim();
    if (content === '') return { file, status: 'empty' };
    return { file, status: 'found', section: `## ${file.path}${sectionSeparator}${content}` };
  });
}

function parseOptions(options: ComposeMemoryPromptOptions): { maxChars: number; files: readonly MemoryPromptFile[] } {
  const parsed = optionsSchema.safeParse(options);
  if (parsed.success) return parsed.data;
  // memory.invalid_scope is this package's code for bad memory input.
  throw new AgentsApiError('memory.invalid_scope', `Invalid memory prompt options: ${z.prettifyError(parsed.error)}`, {
    details: { issues: parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })) },
  });
}

// Reports carry their own copies, so a caller cannot reach the file list it passed in (or the defaults).
function copyFile(file: MemoryPromptFile): MemoryPromptFile {
  return { layer: file.layer, path: file.path, priority: file.priority };
}
