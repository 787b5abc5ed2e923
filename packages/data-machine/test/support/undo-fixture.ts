import type { DataMachineContext } from '../../src/context';
import type { JobEngine } from '../../src/engine/job-engine';
import type { Scope } from '../../src/scope/scope';
import type { Undo } from '../../src/undo/undo';
import { getUndoReport, requestUndo } from '../../src/undo/undo-repository';
import type { UndoWorker } from '../../src/undo/undo-worker';
import { eventually } from './job-engine-fixture';

/** Requests the undo of `jobId` of agent `bot` as `scope`, wakes the running `undos` worker, and resolves to the undo once it has ended (read as `scope`). */
export async function undoToEnd(context: DataMachineContext, engine: JobEngine, undos: UndoWorker, scope: Scope, jobId: string): Promise<Undo> {
  const requested = await requestUndo(context, engine, scope, 'bot', jobId);
  undos.notify();
  let undo: Undo | undefined;
  await eventually(
    async () => {
      undo = (await getUndoReport(context, scope, 'bot', jobId, requested.id)).undo;
      return undo.status === 'completed' || undo.status === 'failed';
    },
    () => `undo ${requested.id} is ${undo?.status ?? 'unread'}`,
  );
  return undo as Undo;
}
