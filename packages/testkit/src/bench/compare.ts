import { performance } from 'node:perf_hooks';

/** Options of {@link compareToBaseline}. */
export interface Comparison {
  /** Printed as the line's title. */
  readonly name: string;
  readonly baseline: { readonly label: string; readonly run: () => Promise<unknown> };
  readonly subject: { readonly label: string; readonly run: () => Promise<unknown> };
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
 * slow batch cannot move. Prints one line and returns the numbers.
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
      const started = performance.now();
      for (let index = 0; index < perRound; index += 1) await work();
      times[which] = (performance.now() - started) / perRound;
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

function median(values: readonly number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 0 ? ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2 : (sorted[middle] ?? 0);
}
