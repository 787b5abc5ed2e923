import { describeEachDatabase } from '@data-machine/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { runFlowNow } from '../engine/flow-run';
import type { JobEngine } from '../engine/job-engine';
import { createFlow } from '../flows/flow-repository';
import { createFilesHandler, filesConfigSchema, type FileItemData } from '../handlers/files/files-handler';
import { createHandlerRegistry, type HandlerRegistry } from '../handlers/handler-registry';
import { jsonItemsHandler } from '../handlers/json-items-handler';
import { createRecordsHandler } from '../handlers/records-handler';
import { createPipeline } from '../pipelines/pipeline-repository';
import { handlerCall } from '../../test/support/handler-fixture';
import { codeOf, migratedContext, type TestContext } from '../../test/support/identity-fixture';
import { engineOn, jobReaches, runningWorker } from '../../test/support/job-engine-fixture';
import { flowWorld, type FlowWorld } from '../../test/support/pipeline-fixture';
import { deleteFlowFile, listFlowFiles, uploadFlowFile } from './flow-file-repository';

await describeEachDatabase<DataMachineDatabase>('files uploaded to a flow', (database) => {
  let context: TestContext;
  let handlers: HandlerRegistry;
  let engine: JobEngine;
  beforeAll(async () => {
    context = await migratedContext(database.db);
    handlers = createHandlerRegistry([createFilesHandler(context), jsonItemsHandler, createRecordsHandler(context)]);
    engine = engineOn(database);
    await engine.start();
  });
  afterAll(async () => {
    await engine.stop();
  });

  async function filesFlow(slug: string): Promise<{ world: FlowWorld; flowId: string }> {
    const world = await flowWorld(context, slug);
    await createPipeline(context, world.owner, handlers, 'bot', {
      slug: 'docs',
      name: 'Docs',
      steps: [
        { key: 'files', type: 'fetch', handler: 'files' },
        { key: 'store', type: 'publish', handler: 'records', config: { collection: 'docs' } },
      ],
    });
    const flow = await createFlow(context, world.owner, handlers, 'bot', { pipeline: 'docs', slug: 'docs', name: 'Docs', maxItems: 10 });
    return { world, flowId: flow.id };
  }

  const filesRows = (flowId: string) => database.db.selectFrom('dm_flow_files').select('id').where('flow_id', '=', flowId).execute();

  it('stores an operator upload and lists it without content, oldest first', async () => {
    const { world, flowId } = await filesFlow('files-list');
    const notes = await uploadFlowFile(context, world.operator, 'bot', 'docs', { name: 'notes.txt', contentType: 'text/plain; charset=utf-8' }, Buffer.from('hello'));
    expect(notes).toEqual({
      id: notes.id,
      flowId,
      name: 'notes.txt',
      contentType: 'text/plain; charset=utf-8',
      size: 5,
      sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
      createdAt: context.now(),
    });
    expect(await listFlowFiles(context, world.viewer, 'bot', 'docs')).toEqual([notes]);
  });

  it('refuses a viewer upload (access.denied), a file over the cap (file.too_large), a name with a path and an empty file (input.invalid), storing nothing', async () => {
    const { world, flowId } = await filesFlow('files-refused');
    expect(await codeOf(uploadFlowFile(context, world.viewer, 'bot', 'docs', { name: 'a.txt', contentType: 'text/plain' }, Buffer.from('a')))).toBe('access.denied');
    expect(await codeOf(uploadFlowFile(context, world.operator, 'bot', 'docs', { name: 'a.txt', contentType: 'text/plain' }, Buffer.alloc(11), { maxBytes: 10 }))).toBe('file.too_large');
    expect(await codeOf(uploadFlowFile(context, world.operator, 'bot', 'docs', { name: '../etc/passwd', contentType: 'text/plain' }, Buffer.from('a')))).toBe('input.invalid');
    expect(await codeOf(uploadFlowFile(context, world.operator, 'bot', 'docs', { name: 'a.txt', contentType: 'not a type' }, Buffer.from('a')))).toBe('input.invalid');
    expect(await codeOf(uploadFlowFile(context, world.operator, 'bot', 'docs', { name: 'empty.txt', contentType: 'text/plain' }, Buffer.alloc(0)))).toBe('input.invalid');
    expect(await filesRows(flowId)).toEqual([]);
  });

  it('deletes a file, and answers file.not_found for one the flow does not have', async () => {
    const { world, flowId } = await filesFlow('files-delete');
    const file = await uploadFlowFile(context, world.operator, 'bot', 'docs', { name: 'a.txt', contentType: 'text/plain' }, Buffer.from('a'));
    await deleteFlowFile(context, world.operator, 'bot', 'docs', file.id);
    expect(await filesRows(flowId)).toEqual([]);
    expect(await codeOf(deleteFlowFile(context, world.operator, 'bot', 'docs', file.id))).toBe('file.not_found');
  });

  it('yields text as a string, binary as base64, and a file over maxContentBytes without content', async () => {
    const { world, flowId } = await filesFlow('files-encode');
    await uploadFlowFile(context, world.operator, 'bot', 'docs', { name: 'café.md', contentType: 'text/markdown' }, Buffer.from('# café'));
    context.setNow(new Date(context.now().getTime() + 1000));
    await uploadFlowFile(context, world.operator, 'bot', 'docs', { name: 'pixel.png', contentType: 'image/png' }, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00]));
    context.setNow(new Date(context.now().getTime() + 1000));
    await uploadFlowFile(context, world.operator, 'bot', 'docs', { name: 'big.json', contentType: 'application/json' }, Buffer.from('{"a":"0123456789"}'));
    const items = await createFilesHandler(context).fetch(filesConfigSchema.parse({ maxContentBytes: 16 }), handlerCall({ tenantId: world.tenant.id, agentId: world.agent.id, flowId, stepKey: 'files' }));
    expect(items.map((item) => { const data = item.data as FileItemData; return [data.name, data.encoding, data.content]; })).toEqual([
      ['café.md', 'utf8', '# café'],
      ['pixel.png', 'base64', 'iVBORwA='],
      ['big.json', null, null],
    ]);
    expect(items.every((item) => item.sourceKey === (item.data as FileItemData).id)).toBe(true);
  });

  it('runs each uploaded file once across repeated runs of the flow', async () => {
    const { world, flowId } = await filesFlow('files-once');
    await uploadFlowFile(context, world.operator, 'bot', 'docs', { name: 'one.txt', contentType: 'text/plain' }, Buffer.from('one'));
    await uploadFlowFile(context, world.operator, 'bot', 'docs', { name: 'two.txt', contentType: 'text/plain' }, Buffer.from('two'));
    const worker = await runningWorker(context, engine, handlers);
    const runToEnd = async (key: string): Promise<string> => {
      const { job } = await runFlowNow(context, engine, world.operator, 'bot', 'docs', { idempotencyKey: key });
      return (await jobReaches(context, world.tenant.id, job.id, ['completed', 'completed_no_items', 'failed'])).status;
    };
    const recordNames = async () =>
      (await database.db.selectFrom('dm_records').select('body').where('flow_id', '=', flowId).execute()).map((row) => (row.body as FileItemData).name).sort();
    try {
      // Two files: a parent that fans out and completes once both children have.
      expect(await runToEnd('first')).toBe('completed');
      expect(await recordNames()).toEqual(['one.txt', 'two.txt']);
      expect(await runToEnd('second')).toBe('completed_no_items');
      await uploadFlowFile(context, world.operator, 'bot', 'docs', { name: 'three.txt', contentType: 'text/plain' }, Buffer.from('three'));
      expect(await runToEnd('third')).toBe('completed');
      expect(await recordNames()).toEqual(['one.txt', 'three.txt', 'two.txt']);
    } finally {
      await worker.stop();
    }
  });
});
