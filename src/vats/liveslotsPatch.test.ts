import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startTestKernel, testVat } from '../../test/support/harness.js';
import { assertLiveslotsPatched, assertPatchedLiveslotsSource } from './liveslotsPatch.js';

const liveslotsSource = (file: string) => readFileSync(new URL(`../../node_modules/@agoric/swingset-liveslots/src/${file}`, import.meta.url), 'utf8');

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

/**
 * The same patch's second part: liveslots keeps what it read of a
 * collection's schema across deliveries, makes its refusal messages once per
 * collection, and freezes rather than hardens its own promise records (what
 * vat code gets is checked in hardenedForVats.test.ts).
 */
describe('the liveslots patch: collections and promise records', () => {
  it('is applied', () => {
    expect(liveslotsSource('collectionManager.js')).toContain('const schemataKeptMax = 1000;');
    expect(liveslotsSource('collectionManager.js')).toContain('let invalidKeyTypeMsg;');
    const liveslots = liveslotsSource('liveslots.js');
    expect(liveslots).toContain('const pRec = Object.freeze({');
    expect(liveslots).toContain('Object.isFrozen(args) ? args : harden(args),');
    expect(liveslots).toContain('knownResolutions.set(p, Object.freeze([isReject, harden(value)]));');
  });

  it('reads a collection schema once, not in every delivery, and refuses a bad key with the same message', async () => {
    const test = await startTestKernel();
    const { kernel, store } = test;
    await kernel.createVat({ name: 'alice', bundle: await testVat('hardening'), runtime: 'liveslots' });
    const alice = kernel.rootOf('alice');
    const schemaReads: string[] = [];
    const get = store.vatstore.get.bind(store.vatstore);
    store.vatstore.get = (vatId, key) => {
      if (key.endsWith('|schemata')) schemaReads.push(key);
      return get(vatId, key);
    };
    for (let i = 0; i < 10; i += 1) await kernel.call(alice, 'put', [`k${i}`, i]);
    for (let i = 0; i < 10; i += 1) expect(await kernel.call(alice, 'inspectStored', [`k${i}`])).toEqual({ frozen: true, value: i });
    // Unpatched: the baggage's and the collection's schemata, read in each of the 20 deliveries.
    expect(schemaReads.length).toBeLessThanOrEqual(2);
    expect(await kernel.call(alice, 'refusedKey', [])).toMatch(/^invalid key type for collection "things"/);
    kernel.close();
  });
});
