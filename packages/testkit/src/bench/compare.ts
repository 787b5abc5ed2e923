import { performance } from 'node:perf_hooks';

/**
 * What a run may resolve to when only part of it is the operation being
 * compared: `measuredMs` is that part's time (e.g. from the call to its first
 * text delta), and the rest of the run (setting up, tearing down) is not
 * counted. Both sides of a comparison should report the same part.
 */
export interface MeasuredRun {
  readonly measuredMs: number;
}

/** One side of a comparison: resolve to a {@link MeasuredRun} to count only part of the run. */
export interface ComparedSide {
  readonly label: string;
  readonly run: () => Promise<unknown>;
}

/** Options of {@link compareToBaseline}. */
export interface Comparison {
  /** Printed as the line's title. */
  readonly name: string;
  readonly baseline: ComparedSide;
  readonly subject: ComparedSide;
  /** The ratio the subject should stay below; printed beside the result, never asserted. */
  readonly target?: number;
  readonly warmup?: number;
  readonly rounds?: number;
  readonly perRound?: number;
}

/** What a comparison measured: milliseconds per operation (median of the rounds) and their ratio. */
export interface ComparisonResult {
  readonly baselineMs: number;
  readonly subjectMs: number;
  readonly ratio: number;
}

/**
 * Measures `subject` against `baseline` in the same process. After a
 * warm-up, each round times one small batch of each, back to back, in an
 * order that alternates between rounds, so drift and garbage collection hit
 * both alike; the ratio is the median of the per-round ratios, which a stray
 * slow batch cannot move. A run that resolves to a {@link MeasuredRun}
 * counts its own `measuredMs` instead of its whole time, so each side is
 * measured on the same part of its work. Prints one line and returns the numbers.
 */
export async function compareToBaseline(comparison: Comparison): Promise<ComparisonResult> {
  const { warmup = 50, rounds = 200, perRound = 5 } = comparison;
  for (let index = 0; index < warmup; index += 1) {
    await comparison.baseline.run();
    await comparison.subject.run();
  }
  const baselineTimes: number[] = [];
  const subjectTimes: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const order = round % 2 === 0 ? (['baseline', 'subject'] as const) : (['subject', 'baseline'] as const);
    const times = { baseline: 0, subject: 0 };
    for (const which of order) {
      const work = comparison[which].run;
      let total = 0;
      for (let index = 0; index < perRound; index += 1) total += await timed(work);
      times[which] = total / perRound;
    }
    baselineTimes.push(times.baseline);
    subjectTimes.push(times.subject);
    ratios.push(times.subject / times.baseline);
  }
  const result = { baselineMs: median(baselineTimes), subjectMs: median(subjectTimes), ratio: median(ratios) };
  const target = comparison.target === undefined ? '' : ` (target < ${comparison.target.toFixed(2)}: ${result.ratio < comparison.target ? 'met' : 'MISSED'})`;
  process.stdout.write(
    `${comparison.name}: ${comparison.baseline.label} ${result.baselineMs.toFixed(3)} ms/op, ${comparison.subject.label} ${result.subjectMs.toFixed(3)} ms/op, ratio ${result.ratio.toFixed(3)}${target}\n`,
  );
  return result;
}

/** The run's time: its own `measuredMs` when it reports one, else the whole call. */
async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  const outcome = await work();
  const elapsed = performance.now() - started;
  return isMeasuredRun(outcome) ? outcome.measuredMs : elapsed;
}

function isMeasuredRun(value: unknown): value is MeasuredRun {
  return typeof value === 'object' && value !== null && 'measuredMs' in value && typeof value.measuredMs === 'number' && Number.isFinite(value.measuredMs);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 0 ? ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2 : (sorted[middle] ?? 0);
}
