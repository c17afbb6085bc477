import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { pairTagOf, pairTagPattern } from './pairTag.js';

const a = 'a1'.repeat(16);
const b = 'b2'.repeat(16);
const c = 'c3'.repeat(16);

describe('the pair tag', () => {
  it('is the first 8 bytes of SHA-256 over both incarnations, sender first, in 16 hex characters', () => {
    const tag = pairTagOf(a, b);
    expect(tag).toMatch(pairTagPattern);
    expect(tag).toBe(createHash('sha256').update(`${a}/${b}`).digest('hex').slice(0, 16));
    // Asked again (from the cache of known pairs): the same.
    expect(pairTagOf(a, b)).toBe(tag);
  });

  it('names another pair when either side is another incarnation, or the sides are swapped, or the receiver is not known yet', () => {
    const tags = [pairTagOf(a, b), pairTagOf(b, a), pairTagOf(a, c), pairTagOf(c, b), pairTagOf(a, null)];
    expect(new Set(tags).size).toBe(tags.length);
    expect(pairTagOf(a, null)).toBe(createHash('sha256').update(`${a}/`).digest('hex').slice(0, 16));
  });
});
