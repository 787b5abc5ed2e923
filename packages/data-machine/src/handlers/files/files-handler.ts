import { z } from 'zod';
import type { DataMachineContext } from '../../context';
import { inTenant } from '../../scope/tenant-transaction';
import type { FetchHandler } from '../handler';

/** The configuration of `files`: how much of a file's content an item carries, and how many files one run reads. */
export const filesConfigSchema = z.strictObject({
  /** A file larger than this is yielded with its metadata and `content: null`. Default 1 MiB, at most 10 MiB. */
  maxContentBytes: z.int().min(1).max(10 * 1_048_576).default(1_048_576),
  /** The most files read per run, oldest first; the rest come in later runs. */
  maxFiles: z.int().min(1).max(500).default(100),
});
export type FilesConfig = z.infer<typeof filesConfigSchema>;

/** One uploaded file as a `files` fetch yields it. */
export interface FileItemData {
  readonly id: string;
  readonly name: string;
  readonly contentType: string;
  readonly size: number;
  readonly sha256: string;
  readonly uploadedAt: string;
  /** `utf8` for text (a `text/*`, JSON or XML type whose bytes are valid UTF-8), `base64` otherwise, null when over `maxContentBytes`. */
  readonly encoding: 'utf8' | 'base64' | null;
  readonly content: string | null;
}

const slug = 'files';

/**
 * A fetch handler over the files uploaded to the flow (`uploadFlowFile`).
 * Each file is its own item, keyed by its id, so the processed-items claim
 * yields it once: it reads only files that no job of this step has claimed
 * or done (a file whose job failed is released and read again). Text comes
 * as a string, anything else as base64.
 *
 * @example
 * handlers.register(createFilesHandler(context));
 */
export function createFilesHandler(context: DataMachineContext): FetchHandler<FilesConfig> {
  return {
    kind: 'fetch',
    slug,
    description: 'Files uploaded to the flow, each once, with their content (text or base64).',
    configSchema: filesConfigSchema,
    fetch(config, call) {
      return inTenant(context, call.tenantId, null, async (trx) => {
        const files = await trx
          .selectFrom('dm_flow_files as file')
          .select(['file.id', 'file.name', 'file.content_type', 'file.size', 'file.sha256', 'file.created_at'])
          .where('file.flow_id', '=', call.flowId)
          .where(({ not, exists, selectFrom }) =>
            not(exists(selectFrom('dm_processed_items as item').select('item.source_key').where('item.flow_id', '=', call.flowId).where('item.step_key', '=', call.stepKey).whereRef('item.source_key', '=', 'file.id'))),
          )
          .orderBy('file.created_at')
          .orderBy('file.id')
          .limit(config.maxFiles)
          .execute();
        const small = files.filter((file) => file.size <= config.maxContentBytes).map((file) => file.id);
        const contents = new Map(
          small.length === 0 ? [] : (await trx.selectFrom('dm_flow_files').select(['id', 'content']).where('id', 'in', small).execute()).map((row) => [row.id, Buffer.from(row.content)]),
        );
        return files.map((file) => {
          const content = contents.get(file.id);
          const encoded = content === undefined ? { encoding: null, content: null } : encode(file.content_type, content);
          const data: FileItemData = { id: file.id, name: file.name, contentType: file.content_type, size: file.size, sha256: file.sha256, uploadedAt: file.created_at.toISOString(), ...encoded };
          return { sourceKey: file.id, data };
        });
      });
    },
  };
}

const textTypes = /^(text\/[\w.+-]+|application\/(json|xml|[\w.-]+\+json|[\w.-]+\+xml|x-ndjson|yaml|x-yaml|javascript))\s*(;|$)/i;

function encode(contentType: string, content: Buffer): Pick<FileItemData, 'encoding' | 'content'> {
  if (textTypes.test(contentType)) {
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(content);
      // U+0000 cannot be stored in a job's JSON: such a "text" travels as base64.
      if (!text.includes('\u0000')) return { encoding: 'utf8', content: text };
    } catch {
      // Not UTF-8 after all: base64 below.
    }
  }
  return { encoding: 'base64', content: content.toString('base64') };
}
