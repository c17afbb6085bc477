import { describe, expect, it } from 'vitest';
import { TokenBucket } from './tokenBucket.js';

describe('TokenBucket', () => {
  it('allows a burst, then the rate, and saves up no more than the burst', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 5, () => now);
    const takes = (count: number) => Array.from({ length: count }, () => bucket.take()).filter(Boolean).length;
    expect(takes(8)).toBe(5);
    now += 300; // 3 tokens
    expect(takes(5)).toBe(3);
    now += 60_000; // far more than the burst
    expect(takes(10)).toBe(5);
  });

  it('refuses a nonsensical configuration', () => {
    expect(() => new TokenBucket(0, 5, () => 0)).toThrow(RangeError);
    expect(() => new TokenBucket(5, 0, () => 0)).toThrow(RangeError);
  });
});
