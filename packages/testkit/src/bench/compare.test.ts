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
