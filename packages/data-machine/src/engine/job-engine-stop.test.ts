import { describeEachDatabase } from '@data-machine/testkit';
import { CompiledQuery } from 'kysely';
import { beforeAll, expect, it } from 'vitest';
import type { DataMachineDatabase } from '../database/data-machine-database';
import { migratedContext } from '../../test/support/identity-fixture';
import { fastEngine } from '../../test/support/job-engine-fixture';
import { createJobEngine, engineQueues } from './job-engine';
import type { PoolExecutor } from './boss-database';

/** What the host's pool throws once it has ended (node-postgres's words). */
const endedPool = 'Cannot use a pool after calling end on the pool';

await describeEachDatabase<DataMachineDatabase>('job engine stop', (database) => {
  beforeAll(async () => {
    await migratedContext(database.db);
  });

  /** The host's pool, as the server passes it (`{ pool }`), on the suite's database; `end()` ends it, and every statement sent after is kept. */
  function hostPool() {
    let ended = false;
    const afterEnd: string[] = [];
    const pool: PoolExecutor = {
      async query(text, values) {
        if (ended) {
          afterEnd.push(text);
          throw new Error(endedPool);
        }
        return { rows: (await database.db.executeQuery(CompiledQuery.raw(text, values ?? []))).rows as unknown[] };
      },
    };
    return { pool, afterEnd, end: () => (ended = true) };
  }

  /** Turns of the event loop: what pg-boss does right after a handler ends (its `complete`) has been sent by then. */
  async function afterHandlerEnd(): Promise<void> {
    for (let turn = 0; turn < 3; turn += 1) await new Promise((resolve) => setImmediate(resolve));
  }

  it('sends nothing to the host database once stopped, though a handler ends after (pg-boss completes it without awaiting)', async () => {
    const host = hostPool();
    const engine = createJobEngine({ ...fastEngine, database: { pool: host.pool } });
    await engine.start();
    let started: () => void = () => undefined;
    let finish: () => void = () => undefined;
    const running = new Promise<void>((resolve) => (started = resolve));
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const handled: Promise<void>[] = [];
    // The outbox queue: a handler of the server's, as the worker runs it; this suite's database has no other.
    await engine.boss.send(engineQueues.outbox, {});
    await engine.boss.work(engineQueues.outbox, { pollingIntervalSeconds: fastEngine.pollingIntervalSeconds }, () => {
      started();
      const handler = finished;
      handled.push(handler);
      return handler;
    });
    await running;

    // The server's shutdown order: the engine stops, then the host closes its database; the handler ends after both.
    await engine.stop();
    host.end();
    finish();
    await Promise.all(handled);
    await afterHandlerEnd();

    // Before the fix pg-boss's `complete` went to the ended pool, and its rejection, unhandled, ended the worker process with code 1.
    expect(host.afterEnd).toEqual([]);
  });

  it('opens the host connection again when started again', async () => {
    const host = hostPool();
    const engine = createJobEngine({ ...fastEngine, database: { pool: host.pool } });
    await engine.start();
    await engine.stop();
    await engine.start();
    try {
      const id = await engine.boss.send(engineQueues.outbox, { again: true });
      expect(id).toEqual(expect.any(String));
      expect((await engine.boss.getJobById(engineQueues.outbox, id as string))?.data).toEqual({ again: true });
    } finally {
      await engine.stop();
    }
  });
});
