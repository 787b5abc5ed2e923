import { describe, expect, it } from 'vitest';
import { compareToBaseline } from './compare';

describe('benchmark comparison', () => {
  it('warms up, then runs a batch of each per round, alternating which goes first', async () => {
    const calls: string[] = [];
    const result = await compareToBaseline({
      name: 'counting',
      baseline: { label: 'baseline', run: async () => void calls.push('b') },
      subject: { label: 'subject', run: async () => void calls.push('s') },
      warmup: 1,
      rounds: 3,
      perRound: 2,
    });
    expect(calls.join('')).toBe('bs' + 'bbss' + 'ssbb' + 'bbss');
    expect(Object.keys(result).sort()).toEqual(['baselineMs', 'ratio', 'subjectMs']);
  });
});

describe('benchmark comparison of measured parts', () => {
  it('counts the part a run reports as measured, not the whole run', async () => {
    // The subject's run takes longer than it reports; only the reported part is compared.
    const result = await compareToBaseline({
      name: 'measured parts',
      baseline: { label: 'baseline', run: async () => ({ measuredMs: 2 }) },
      subject: { label: 'subject', run: async () => ({ measuredMs: 3 }) },
      warmup: 0,
      rounds: 3,
      perRound: 2,
    });
    expect(result).toEqual({ baselineMs: 2, subjectMs: 3, ratio: 1.5 });
  });

  it('times the whole run when it reports nothing, or a measure that is not a finite number', async () => {
    const result = await compareToBaseline({
      name: 'unmeasured',
      baseline: { label: 'baseline', run: async () => ({ measuredMs: Number.NaN }) },
      subject: { label: 'subject', run: async () => 'done' },
      warmup: 0,
      rounds: 1,
      perRound: 1,
    });
    expect(Number.isNaN(result.baselineMs)).toBe(false);
    expect(result.baselineMs).toBeGreaterThanOrEqual(0);
    expect(result.subjectMs).toBeGreaterThanOrEqual(0);
  });
});
