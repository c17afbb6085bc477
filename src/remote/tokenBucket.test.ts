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

  it('hands out what it has up to what is wanted, and says how long the rest takes', () => {
    let now = 0;
    const bucket = new TokenBucket(100, 50, () => now);
    expect(bucket.takeUpTo(80)).toBe(50);
    expect(bucket.takeUpTo(10)).toBe(0);
    expect(bucket.msUntil(20)).toBe(200);
    expect(bucket.msUntil(500)).toBe(500); // never more than the burst
    now += 200;
    expect(bucket.msUntil(20)).toBe(0);
    expect(bucket.takeUpTo(25)).toBe(20);
  });

  it('refuses a nonsensical configuration', () => {
    expect(() => new TokenBucket(0, 5, () => 0)).toThrow(RangeError);
    expect(() => new TokenBucket(5, 0, () => 0)).toThrow(RangeError);
  });
});
