import { describe, expect, it } from 'vitest';
import { addUsage, countedTokens, emptyUsage } from './model-provider';

describe('usage', () => {
  it('sums every field both sides reported', () => {
    const sum = addUsage(
      { inputTokens: 10, outputTokens: 2, totalTokens: 12, cachedInputTokens: 8, reasoningTokens: 1 },
      { inputTokens: 20, outputTokens: 3, totalTokens: 23, cachedInputTokens: 4, reasoningTokens: 2 },
    );
    expect(sum).toStrictEqual({ inputTokens: 30, outputTokens: 5, totalTokens: 35, cachedInputTokens: 12, reasoningTokens: 3 });
  });

  it('keeps a field absent when neither side reported it', () => {
    expect(addUsage({ inputTokens: 10 }, { inputTokens: 5 })).toStrictEqual({ inputTokens: 15 });
    expect(addUsage(emptyUsage, emptyUsage)).toStrictEqual({});
  });

  it('counts a field one side did not report as zero when the other reported it', () => {
    expect(addUsage({ inputTokens: 10, cachedInputTokens: 6 }, { inputTokens: 5 })).toStrictEqual({ inputTokens: 15, cachedInputTokens: 6 });
  });

  it('counts the reported total against a budget, else input plus output, else nothing', () => {
    expect(countedTokens({ inputTokens: 10, outputTokens: 2, totalTokens: 13 })).toBe(13);
    expect(countedTokens({ inputTokens: 10, outputTokens: 2 })).toBe(12);
    expect(countedTokens({ outputTokens: 2 })).toBe(2);
    expect(countedTokens(emptyUsage)).toBe(0);
  });
});
