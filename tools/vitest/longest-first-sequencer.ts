import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Milliseconds each of the longest test files took in a full run, keyed by
 * its path from the repository root (tools/vitest/test-durations.json,
 * refreshed with tools/vitest/record-durations.js). Only the ranking matters.
 */
export type KnownDurations = Readonly<Record<string, number>>;

/** The committed durations beside this file. */
export function readKnownDurations(file = path.join(import.meta.dirname, 'test-durations.json')): KnownDurations {
  return JSON.parse(readFileSync(file, 'utf8')) as KnownDurations;
}

/** A file to order: where it is, and how long it took last time, when anyone knows. */
export interface TimedFile {
  readonly file: string;
  readonly duration: number | undefined;
}

/**
 * `files` with the longest first, longest-processing-time scheduling: with
 * a few workers, a long file that starts last keeps the run going while the
 * other workers idle. Files of unknown duration keep their given order,
 * after the known ones.
 */
export function longestFirst<File extends TimedFile>(files: readonly File[]): File[] {
  return files
    .map((timed, index) => ({ timed, index }))
    .sort((a, b) => (b.timed.duration ?? -1) - (a.timed.duration ?? -1) || a.index - b.index)
    .map(({ timed }) => timed);
}

/**
 * Vitest's sequencer, but across every project at once, longest file first
 * (docs/decisions/2026-11-30-fast-test-databases.md, "Longest file first").
 * Vitest's own order groups files by project and runs a project's longest
 * first only when its results cache knows them; a CI checkout has no cache,
 * and the server's child-process files are short files that took minutes. A
 * duration comes from this machine's results cache when it has one, else from
 * the committed list.
 */
export class LongestFirstSequencer extends BaseSequencer {
  private readonly known = readKnownDurations();

  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const timed = (await super.sort(files)).map((specification) => {
      const file = path.relative(root, specification.moduleId);
      const cached = this.ctx.cache.getFileTestResults(`${specification.project.name}:${file}`);
      return { specification, file, duration: cached?.duration ?? this.known[file] };
    });
    return longestFirst(timed).map(({ specification }) => specification);
  }
}
