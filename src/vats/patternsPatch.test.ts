import { readFile } from 'node:fs/promises';
import { M, matches, mustMatch } from '@endo/patterns';
import { describe, expect, it } from 'vitest';

/**
 * patches/@endo+patterns+1.9.1.patch: matching a string, number, record,
 * array, set, bag or map pattern no longer hardens a fresh record of its
 * limits (every caller destructures it at once): the default limits
 * themselves when none are given, a frozen record otherwise. liveslots
 * matches every collection key against its key shape. The limits must mean
 * what they meant.
 */
describe('the @endo/patterns patch', () => {
  it('is applied', async () => {
    const source = await readFile(new URL('../../node_modules/@endo/patterns/src/patterns/patternMatchers.js', import.meta.url), 'utf8');
    expect(source).toContain('? /** @type {AllLimits} */ (defaultLimits)');
  });

  it('applies default and given limits as before', () => {
    expect(matches('x'.repeat(100_000), M.string())).toBe(true);
    expect(matches('x'.repeat(100_001), M.string())).toBe(false);
    expect(matches('x'.repeat(6), M.string(harden({ stringLengthLimit: 5 })))).toBe(false);
    expect(matches('x'.repeat(5), M.string(harden({ stringLengthLimit: 5 })))).toBe(true);
    expect(() => mustMatch('x'.repeat(6), M.string(harden({ stringLengthLimit: 5 })), 'label')).toThrow(
      'label: string (a string) must not be bigger than (a number)',
    );
    expect(matches(harden(Array.from({ length: 3 }, (_, i) => i)), M.arrayOf(M.number(), harden({ arrayLengthLimit: 2 })))).toBe(false);
    expect(matches(harden(Array.from({ length: 10_001 }, (_, i) => i)), M.arrayOf(M.number()))).toBe(false);
    // A given limit leaves the others at their defaults.
    expect(matches(harden({ a: 'x'.repeat(100_001) }), M.recordOf(M.string(), M.string(), harden({ numPropertiesLimit: 5 })))).toBe(false);
    expect(matches(10n ** 101n, M.bigint())).toBe(false);
    expect(matches(10n ** 99n, M.bigint())).toBe(true);
  });
});
