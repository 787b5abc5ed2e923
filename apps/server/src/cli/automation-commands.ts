import { readFile } from 'node:fs/promises';
import {
  addToQueue,
  cancelJob,
  clearQueue,
  exportPipeline,
  getJob,
  importConflictSchema,
  importPipeline,
  jobStatuses,
  listFlowFiles,
  listFlows,
  listJobEffects,
  listJobLogs,
  listJobs,
  listQueue,
  getUndoReport,
  pauseFlow,
  queueNameSchema,
  resumeFlow,
  requestUndo,
  retryJob,
  rotateFlowWebhookSecret,
  runFlowNow,
  uploadFlowFile,
  type Flow,
  type FlowFile,
  type Job,
  type JobEffect,
  type QueueAddress,
  type Undo,
  type UndoReport,
  webhookSecretsPurpose,
} from 'data-machine';
import { done, iso, oneOf, optional, required, text, UsageError, type AdminCommand, type CommandInput, type CommandResult, type Values } from './command';

/** `--limit` and `--cursor`, as the product's page options. */
export function page(values: Values): { limit?: number; cursor?: string } {
  const limit = optional(values, 'limit');
  const cursor = optional(values, 'cursor');
  if (limit !== undefined && !/^\d+$/.test(limit)) throw new UsageError('--limit must be a whole number');
  return { ...(limit === undefined ? {} : { limit: Number(limit) }), ...(cursor === undefined ? {} : { cursor }) };
}

/** An optional ISO instant option. */
function instantOption(values: Values, name: string): Date | undefined {
  const value = optional(values, name);
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(date.getTime())) throw new UsageError(`--${name} must be an ISO instant (got "${value}")`);
  return date;
}

export const nextPage = (cursor: string | null): string | undefined => (cursor === null ? undefined : `more: --cursor ${cursor}`);

function flowRow(flow: Flow): Record<string, unknown> {
  return { slug: flow.slug, name: flow.name, paused: flow.paused, schedule: flow.schedule.kind === 'interval' ? flow.schedule.every : flow.schedule.kind, id: flow.id };
}
function jobRow(job: Job): Record<string, unknown> {
  return { id: job.id, status: job.status, reason: job.statusReason, source: job.source, created: iso(job.createdAt), finished: iso(job.finishedAt) };
}
const jobLine = (job: Job): string => `${job.id}: ${job.status}${job.statusReason === null ? '' : ` (${job.statusReason})`}, created ${iso(job.createdAt) ?? '-'}`;

/** A command on one queue, named `<agent> <flow> <step> --queue prompt|config_patch`. */
function queueCommand(word: string, run: (input: CommandInput, address: QueueAddress) => Promise<CommandResult>): AdminCommand {
  return {
    words: ['flows', 'queue', word],
    usage: `flows queue ${word} <agent> <flow> <step> --queue prompt|config_patch [--tenant <slug>] --as <email>`,
    options: { queue: text },
    positionals: 3,
    run: (input) => run(input, { flow: input.positionals[1] ?? '', stepKey: input.positionals[2] ?? '', queue: oneOf(input.values, 'queue', queueNameSchema) }),
  };
}

/**
 * The automation commands: pipelines export/import, flows, their queues, and
 * jobs. Like the identity commands, each wraps one product function and is
 * authorized by the product; none goes over HTTP.
 */
export const automationCommands: readonly AdminCommand[] = [
  {
    words: ['pipelines', 'export'],
    usage: 'pipelines export <agent> <pipeline> [--tenant <slug>] --as <email>   (prints the portable JSON document)',
    options: {},
    positionals: 2,
    async run({ context, scope, positionals }) {
      const document = await exportPipeline(context, await scope(), positionals[0] ?? '', positionals[1] ?? '');
      return done(JSON.stringify(document, null, 2), document);
    },
  },
  {
    words: ['pipelines', 'import'],
    usage: 'pipelines import <agent> --file <document.json> [--on-conflict fail|rename] [--tenant <slug>] --as <email>',
    options: { file: text, 'on-conflict': text },
    positionals: 1,
    async run({ context, handlers, scope, positionals, values, progress }) {
      const file = required(values, 'file');
      const onConflict = optional(values, 'on-conflict') === undefined ? 'fail' : oneOf(values, 'on-conflict', importConflictSchema);
      let document: unknown;
      try {
        document = JSON.parse(await readFile(file, 'utf8'));
      } catch (error) {
        throw new UsageError(`--file must name a readable JSON document (${error instanceof SyntaxError ? 'not JSON' : ((error as NodeJS.ErrnoException).code ?? 'unreadable')}: ${file})`);
      }
      const imported = await importPipeline(context, await scope(), handlers, positionals[0] ?? '', document, { onConflict, onProgress: progress('import', 'flows') });
      const flows = imported.flows.map((flow) => flow.slug);
      return done(`imported pipeline ${imported.pipeline.slug} with ${flows.length} flow(s)${flows.length === 0 ? '' : `: ${flows.join(', ')}`}`, imported);
    },
  },
  {
    words: ['flows', 'list'],
    usage: 'flows list <agent> [--pipeline <pipeline>] [--tenant <slug>] --as <email>',
    options: { pipeline: text },
    positionals: 1,
    async run({ context, scope, positionals, values }) {
      const pipeline = optional(values, 'pipeline');
      const flows = await listFlows(context, await scope(), positionals[0] ?? '', pipeline === undefined ? {} : { pipeline });
      return { kind: 'rows', columns: ['slug', 'name', 'paused', 'schedule', 'id'], rows: flows.map(flowRow), value: flows };
    },
  },
  {
    words: ['flows', 'run'],
    usage: 'flows run <agent> <flow> [--idempotency-key <key>] [--tenant <slug>] --as <email>',
    options: { 'idempotency-key': text },
    positionals: 2,
    async run({ context, scope, positionals, values, engine }) {
      const key = optional(values, 'idempotency-key');
      const { job, created } = await runFlowNow(context, await engine(), await scope(), positionals[0] ?? '', positionals[1] ?? '', key === undefined ? {} : { idempotencyKey: key });
      return done(`${created ? 'started' : 'already started'} ${jobLine(job)}`, job);
    },
  },
  ...(['pause', 'resume'] as const).map(
    (action): AdminCommand => ({
      words: ['flows', action],
      usage: `flows ${action} <agent> <flow> [--tenant <slug>] --as <email>`,
      options: {},
      positionals: 2,
      async run({ context, scope, positionals }) {
        const flow = await (action === 'pause' ? pauseFlow : resumeFlow)(context, await scope(), positionals[0] ?? '', positionals[1] ?? '');
        return done(`${flow.slug} is ${flow.paused ? 'paused' : 'active'}`, flow);
      },
    }),
  ),
  {
    words: ['flows', 'queue', 'add'],
    usage: 'flows queue add <agent> <flow> <step> --prompt <text> | --patch <JSON object> [--tenant <slug>] --as <email>',
    options: { prompt: text, patch: text },
    positionals: 3,
    async run({ context, scope, positionals, values }) {
      const prompt = optional(values, 'prompt');
      const patch = optional(values, 'patch');
      if ((prompt === undefined) === (patch === undefined)) throw new UsageError('give exactly one of --prompt <text> (prompt queue) or --patch <JSON object> (config-patch queue)');
      let body: unknown = prompt;
      if (patch !== undefined) {
        try {
          body = JSON.parse(patch);
        } catch {
          throw new UsageError('--patch must be a JSON object');
        }
      }
      const address = { flow: positionals[1] ?? '', stepKey: positionals[2] ?? '', queue: prompt === undefined ? ('config_patch' as const) : ('prompt' as const) };
      const entry = await addToQueue(context, await scope(), positionals[0] ?? '', address, body);
      return done(`added ${entry.id} to the ${entry.queue} queue of ${address.flow}/${address.stepKey}`, entry);
    },
  },
  queueCommand('list', async ({ context, scope, positionals }, address) => {
    const entries = await listQueue(context, await scope(), positionals[0] ?? '', address);
    const rows = entries.map((entry) => ({ id: entry.id, body: typeof entry.body === 'string' ? entry.body : JSON.stringify(entry.body), leased: entry.leasedByJobId, created: iso(entry.createdAt) }));
    return { kind: 'rows', columns: ['id', 'body', 'leased', 'created'], rows, value: entries };
  }),
  queueCommand('clear', async ({ context, scope, positionals }, address) => {
    const cleared = await clearQueue(context, await scope(), positionals[0] ?? '', address);
    return done(`cleared ${cleared} entr${cleared === 1 ? 'y' : 'ies'}`, { cleared });
  }),
  {
    words: ['jobs', 'list'],
    usage: `jobs list <agent> [--flow <flow>] [--status ${jobStatuses.join('|')}] [--since <ISO instant>] [--before <ISO instant>] [--limit <n>] [--cursor <cursor>] [--tenant <slug>] --as <email>`,
    options: { flow: text, status: text, since: text, before: text, limit: text, cursor: text },
    positionals: 1,
    async run({ context, scope, positionals, values }) {
      const flow = optional(values, 'flow');
      const status = optional(values, 'status') === undefined ? undefined : oneOf(values, 'status', { options: jobStatuses });
      const jobs = await listJobs(context, await scope(), positionals[0] ?? '', {
        ...page(values),
        ...(flow === undefined ? {} : { flow }),
        ...(status === undefined ? {} : { status }),
        createdSince: instantOption(values, 'since'),
        createdBefore: instantOption(values, 'before'),
      });
      const footer = nextPage(jobs.nextCursor);
      return { kind: 'rows', columns: ['id', 'status', 'reason', 'source', 'created', 'finished'], rows: jobs.items.map(jobRow), ...(footer === undefined ? {} : { footer }), value: jobs };
    },
  },
  {
    words: ['jobs', 'show'],
    usage: 'jobs show <agent> <job> [--tenant <slug>] --as <email>',
    options: {},
    positionals: 2,
    async run({ context, scope, positionals }) {
      return showJob(await getJob(context, await scope(), positionals[0] ?? '', positionals[1] ?? ''));
    },
  },
  {
    words: ['jobs', 'logs'],
    usage: 'jobs logs <agent> <job> [--limit <n>] [--cursor <cursor>] [--tenant <slug>] --as <email>',
    options: { limit: text, cursor: text },
    positionals: 2,
    async run({ context, scope, positionals, values }) {
      const lines = await listJobLogs(context, await scope(), positionals[0] ?? '', positionals[1] ?? '', page(values));
      const footer = nextPage(lines.nextCursor);
      const rows = lines.items.map((line) => ({ time: iso(line.createdAt), level: line.level, message: line.message }));
      return { kind: 'rows', columns: ['time', 'level', 'message'], rows, ...(footer === undefined ? {} : { footer }), value: lines };
    },
  },
  {
    words: ['jobs', 'effects'],
    usage: 'jobs effects <agent> <job> [--limit <n>] [--cursor <cursor>] [--tenant <slug>] --as <email>   (what its handlers and its children\'s did, oldest first, with their undo state)',
    options: { limit: text, cursor: text },
    positionals: 2,
    async run({ context, scope, positionals, values }) {
      const effects = await listJobEffects(context, await scope(), positionals[0] ?? '', positionals[1] ?? '', page(values));
      const footer = nextPage(effects.nextCursor);
      return { kind: 'rows', columns: ['time', 'step', 'handler', 'kind', 'ref', 'url', 'undo', 'job'], rows: effects.items.map(effectRow), ...(footer === undefined ? {} : { footer }), value: effects };
    },
  },
  {
    words: ['jobs', 'retry'],
    usage: 'jobs retry <agent> <job> [--tenant <slug>] --as <email>',
    options: {},
    positionals: 2,
    async run({ context, scope, positionals, engine }) {
      const { job, created } = await retryJob(context, await engine(), await scope(), positionals[0] ?? '', positionals[1] ?? '');
      return done(`${created ? 'retrying as' : 'already retried as'} ${jobLine(job)}`, job);
    },
  },
  {
    words: ['jobs', 'cancel'],
    usage: 'jobs cancel <agent> <job> [--tenant <slug>] --as <email>',
    options: {},
    positionals: 2,
    async run({ context, scope, positionals }) {
      return showJob(await cancelJob(context, await scope(), positionals[0] ?? '', positionals[1] ?? ''));
    },
  },
  {
    words: ['jobs', 'undo'],
    usage: 'jobs undo <agent> <job> [--wait] [--tenant <slug>] --as <email>   (a worker reverses its effects; --wait shows its progress and report, else read them with jobs undo-report)',
    options: { wait: { type: 'boolean' } },
    positionals: 2,
    async run({ context, scope, positionals, engine, values, progress, pause }) {
      const agent = positionals[0] ?? '';
      const undo = await requestUndo(context, await engine(), await scope(), agent, positionals[1] ?? '');
      if (values.wait !== true) return done(`${undoLine(undo)}; read it with: jobs undo-report ${agent} ${undo.jobId} ${undo.id}`, undo);
      const report = progress('undo', 'effects');
      for (;;) {
        const current = await getUndoReport(context, await scope(), agent, undo.jobId, undo.id);
        report(current.effects.length, current.effectCount);
        if (current.undo.status === 'completed' || current.undo.status === 'failed') return undoReportResult(current);
        await pause(undoPollMs);
      }
    },
  },
  {
    words: ['jobs', 'undo-report'],
    usage: 'jobs undo-report <agent> <job> <undo> [--tenant <slug>] --as <email>',
    options: {},
    positionals: 3,
    async run({ context, scope, positionals }) {
      return undoReportResult(await getUndoReport(context, await scope(), positionals[0] ?? '', positionals[1] ?? '', positionals[2] ?? ''));
    },
  },
];

function effectRow(effect: JobEffect): Record<string, unknown> {
  return { time: iso(effect.at), step: effect.step, handler: effect.handler, kind: effect.kind, ref: effect.ref, url: effect.url, undo: undoStateText(effect.undo), job: effect.jobId };
}

/** An effect's undo state in a word or two: `not undone`, `undone`, `skipped (already_gone)`, `failed (handler.http_status)`. */
function undoStateText(undo: JobEffect['undo']): string {
  if (undo.status === 'skipped') return `skipped (${undo.reason})`;
  if (undo.status === 'failed') return `failed (${undo.error.code})`;
  return undo.status === 'undone' ? 'undone' : 'not undone';
}

/** How often `jobs undo --wait` looks at the undo a worker is running. */
const undoPollMs = 500;

function undoReportResult(report: UndoReport): CommandResult {
  const rows = report.effects.map((effect) => ({ '#': effect.position, outcome: effect.outcome, kind: effect.kind, why: effect.reason ?? effect.error?.code ?? '', job: effect.jobId }));
  return { kind: 'rows', columns: ['#', 'outcome', 'kind', 'why', 'job'], rows, footer: undoLine(report.undo), value: report };
}

function undoLine(undo: Undo): string {
  const { reverted, skipped, failed } = undo.counts;
  return `undo ${undo.id} of ${undo.jobId}: ${undo.status}${undo.statusReason === null ? '' : ` (${undo.statusReason})`}, ${reverted} reverted, ${skipped} skipped, ${failed} failed`;
}

/** A file's media type by its extension, for uploads without `--type`. */
const mediaTypes: Readonly<Record<string, string>> = {
  txt: 'text/plain',
  md: 'text/markdown',
  csv: 'text/csv',
  html: 'text/html',
  json: 'application/json',
  xml: 'application/xml',
  pdf: 'application/pdf',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
};

function fileRow(file: FlowFile): Record<string, unknown> {
  return { id: file.id, name: file.name, type: file.contentType, size: file.size, uploaded: iso(file.createdAt) };
}

/** Inbound: a flow's webhook secret and its uploaded files. */
export const inboundCommands: readonly AdminCommand[] = [
  {
    words: ['flows', 'webhook', 'rotate'],
    usage: 'flows webhook rotate <agent> <flow> [--tenant <slug>] --as <email>',
    options: {},
    positionals: 2,
    async run({ context, scope, positionals, secrets }) {
      const { webhook, secret } = await rotateFlowWebhookSecret(context, await secrets(webhookSecretsPurpose), await scope(), positionals[0] ?? '', positionals[1] ?? '');
      return done(`webhook secret (shown once): ${secret}\nPOST signed deliveries to /hooks/flows/${webhook.flowId}`, { ...webhook, secret });
    },
  },
  {
    words: ['flows', 'files', 'upload'],
    usage: 'flows files upload <agent> <flow> <path> [--name <file name>] [--type <media type>] [--tenant <slug>] --as <email>',
    options: { name: text, type: text },
    positionals: 3,
    async run({ context, scope, positionals, values }) {
      const path = positionals[2] ?? '';
      const name = optional(values, 'name') ?? path.split(/[\\/]/).pop() ?? path;
      const type = optional(values, 'type') ?? mediaTypes[name.split('.').pop()?.toLowerCase() ?? ''] ?? 'application/octet-stream';
      const file = await uploadFlowFile(context, await scope(), positionals[0] ?? '', positionals[1] ?? '', { name, contentType: type }, await readFile(path));
      return done(`uploaded ${file.name} (${file.size} bytes) as ${file.id}`, file);
    },
  },
  {
    words: ['flows', 'files', 'list'],
    usage: 'flows files list <agent> <flow> [--tenant <slug>] --as <email>',
    options: {},
    positionals: 2,
    async run({ context, scope, positionals }) {
      const files = await listFlowFiles(context, await scope(), positionals[0] ?? '', positionals[1] ?? '');
      return { kind: 'rows', columns: ['id', 'name', 'type', 'size', 'uploaded'], rows: files.map(fileRow), value: files };
    },
  },
];

function showJob(job: Job): CommandResult {
  return done(jobLine(job), job);
}
