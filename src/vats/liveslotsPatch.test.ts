import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assertLiveslotsPatched, assertPatchedLiveslotsSource } from './liveslotsPatch.js';

describe('the liveslots patch', () => {
  it('is applied in this install', () => {
    expect(() => assertLiveslotsPatched()).not.toThrow();
  });

  it('is demanded: liveslots as published is refused, with the fix in the message', () => {
    const patch = readFileSync(new URL('../../patches/@agoric+swingset-liveslots+0.11.0.patch', import.meta.url), 'utf8');
    // The published source, as far as the check can tell: every line the patch adds, taken out.
    const published = patch
      .split('\n')
      .filter((line) => line.startsWith(' ') || line.startsWith('-'))
      .map((line) => line.slice(1))
      .join('\n');
    expect(() => assertPatchedLiveslotsSource(published, '/x')).toThrow(/lacks ken-node's patch .* run `npm install`/);
  });
});
