import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestKernel, testVat } from '../../test/support/harness.js';
import { CrashPoints } from '../fault/crashPoints.js';
import type { KernelStore } from '../store/index.js';
import { vatRuntimes } from '../vats/vatInstance.js';
import { krefOf } from './kmarshal.js';
import { makeVatAdminService } from './vatAdminService.js';

const directories: string[] = [];
afterEach(() => directories.splice(0).forEach((directory) => rmSync(directory, { recursive: true, force: true })));
const storeFile = () => {
  const directory = mkdtempSync(path.join(tmpdir(), 'ken-vat-ops-'));
  directories.push(directory);
  return path.join(directory, 'kernel.sqlite');
};

/** Everything the store holds about vat `vatId`: its record, vatstore and c-list, as rows. */
function vatRows(store: KernelStore, vatId: string): unknown {
  const dump = store.dump();
  const of = (table: string, column: string) => (dump[table] ?? []).filter((row) => (row as Record<string, unknown>)[column] === vatId);
  return { vat: of('vats', 'vat_id'), vatstore: of('vatstore', 'vat_id'), clist: of('clist', 'endpoint') };
}

describe.each(vatRuntimes)('vat operations on %s', (runtime) => {
  it('upgrades a vat in one crank: durable state and durable objects held outside kept, the heap\'s objects lost; a failed upgrade changes nothing', async () => {
    const { kernel, store } = await startTestKernel();
    await kernel.createVat({ name: 'bank', bundle: await testVat('bank'), runtime });
    const bank = kernel.rootOf('bank');
    const alice = (await kernel.call(bank, 'open', ['alice'])) as object;
    expect(await kernel.call(alice, 'deposit', [10])).toBe(10);
    const ephemeral = (await kernel.call(bank, 'ephemeral')) as object;

    // Each broken version: the crank is rolled back, the previous version runs on, its rows as they were.
    const vatId = 'v1';
    const before = vatRows(store, vatId);
    await expect(kernel.upgradeVat('bank', await testVat('bankThrows'))).rejects.toThrow(
      /the upgrade of vat "bank" failed, and its previous version runs on, its state untouched: delivery failed: .*version 2 cannot start/,
    );
    await expect(kernel.upgradeVat('bank', await testVat('bankForgetsKind'))).rejects.toThrow(/the upgrade of vat "bank" failed.*Account/);
    expect(vatRows(store, vatId)).toEqual(before);
    expect(await kernel.call(bank, 'version')).toBe(1);
    expect(await kernel.call(ephemeral, 'hello')).toBe('hello');
    expect(await kernel.call(alice, 'deposit', [5])).toBe(15);

    expect(await kernel.upgradeVat('bank', await testVat('bankV2'))).toEqual({ name: 'bank', vatId });
    expect(await kernel.call(bank, 'version')).toBe(2);
    // The reference held across the upgrade reaches the same durable object, with its new behaviour.
    expect(await kernel.call(alice, 'withdraw', [3])).toBe(12);
    expect(await kernel.call(bank, 'total')).toBe(12);
    await expect(kernel.call(ephemeral, 'hello')).rejects.toThrow(/was lost: vat v1 was upgraded and the object was not durable/);
    expect(kernel.vatState('bank')).toEqual({ state: 'live', reason: undefined, runtime });
    kernel.close();
  });

  it('terminates a live vat: its state deleted, its objects lost, its name kept', async () => {
    const { kernel, store } = await startTestKernel();
    await kernel.createVat({ name: 'bank', bundle: await testVat('bank'), runtime });
    const alice = (await kernel.call(kernel.rootOf('bank'), 'open', ['alice'])) as object;
    expect(await kernel.terminateVat('bank', 'closed for good')).toEqual({ name: 'bank', vatId: 'v1' });
    expect(vatRows(store, 'v1')).toMatchObject({ vatstore: [], clist: [] });
    await expect(kernel.call(alice, 'balance')).rejects.toThrow('vat v1 (bank) was terminated: closed for good');
    await expect(kernel.terminateVat('bank', 'again')).rejects.toThrow('vat "bank" was terminated: closed for good');
    await expect(kernel.upgradeVat('nobody', await testVat('bank'))).rejects.toThrow('no vat named "nobody"');
    await expect(kernel.createVat({ name: 'bank', bundle: await testVat('bank') })).rejects.toThrow('a vat named "bank" already exists');
    kernel.close();
  });
});

describe('vat operations are committed once, whatever crashes', () => {
  it('an operation committed but not carried out (the node died between) is carried out at the next start, once', async () => {
    const file = storeFile();
    const first = await startTestKernel({ path: file, durability: 'process' });
    await first.kernel.createVat({ name: 'bank', bundle: await testVat('bank') });
    expect(await first.kernel.call(first.kernel.rootOf('bank'), 'open', ['alice'])).toBeDefined();
    // Queue the upgrade and commit it, then die before the loop carries it out (as a SIGKILL between the two commits).
    const v2 = await testVat('bankV2');
    first.kernel.queueExternal({
      apply: (context) => {
        context.store.vats.putBundle(v2.hash, v2.json);
        context.store.vatOps.add({ kind: 'upgrade', vatName: 'bank', bundleHash: v2.hash, result: null });
      },
    });
    await first.kernel.run({ maxCranks: 1 });
    expect(first.store.vatOps.all()).toHaveLength(1);
    first.store.close();

    const second = await startTestKernel({ path: file, durability: 'process' });
    expect(second.store.vatOps.all()).toEqual([]);
    expect(second.logger.entries.filter((entry) => entry.message === 'vat upgraded')).toHaveLength(1);
    const bank = second.kernel.rootOf('bank');
    expect(await second.kernel.call(bank, 'version')).toBe(2);
    expect(await second.kernel.call(await second.kernel.call(bank, 'account', ['alice']) as object, 'balance')).toBe(0);
    second.kernel.close();

    // A third start finds nothing to do again.
    const third = await startTestKernel({ path: file, durability: 'process' });
    expect(third.logger.entries.filter((entry) => entry.message === 'vat upgraded')).toEqual([]);
    third.kernel.close();
  });

  it('a crank that carried an operation out and died before its COMMIT leaves nothing of it (its request was in the same group)', async () => {
    const file = storeFile();
    // Dies as under SIGKILL at the crash point: the store closes with the crank's transaction open.
    const crashPoints = new CrashPoints(undefined, (point) => {
      first.store.close();
      throw new Error(`died at ${point}`);
    });
    const first = await startTestKernel({ path: file, durability: 'process', crashPoints });
    await first.kernel.createVat({ name: 'bank', bundle: await testVat('bank') });
    const vatsBefore = first.store.dump().vats;
    crashPoints.arm({ point: 'vat-op-crank', occurrence: 1 });
    await expect(first.kernel.createVat({ name: 'teller', bundle: await testVat('bank'), runtime: 'lean' })).rejects.toThrow('died at vat-op-crank');

    // The request and the crank that carried it out were one uncommitted group: neither happened.
    const second = await startTestKernel({ path: file, durability: 'process' });
    expect(second.kernel.hasVat('teller')).toBe(false);
    expect(second.store.dump().vats).toEqual(vatsBefore);
    expect(second.store.vatOps.all()).toEqual([]);
    second.kernel.close();
  });
});

describe('the vat-admin service', () => {
  it('lets the vat that holds it create, upgrade and terminate vats from the node\'s named bundles', async () => {
    const { kernel } = await startTestKernel();
    const bundles = new Map([
      ['bank', await testVat('bank')],
      ['bankV2', await testVat('bankV2')],
      ['broken', await testVat('bankThrows')],
    ]);
    const vatAdmin = kernel.registerService('vatAdmin', makeVatAdminService(bundles));
    await kernel.createVat({ name: 'maker', bundle: await testVat('vatMaker'), parameters: { vatAdmin } });
    const maker = kernel.rootOf('maker');

    const bank = (await kernel.call(maker, 'create', ['bank', 'bank', {}])) as object;
    expect(krefOf(bank)).toBe(krefOf(kernel.rootOf('bank')));
    const alice = (await kernel.call(bank, 'open', ['alice'])) as object;
    expect(await kernel.call(alice, 'deposit', [7])).toBe(7);
    await expect(kernel.call(maker, 'create', ['bank', 'bank', {}])).rejects.toThrow('a vat named "bank" already exists');
    await expect(kernel.call(maker, 'create', ['other', 'nonesuch', {}])).rejects.toThrow(/bundle must name one of the node's bundles \(bank, bankV2, broken\)/);
    await expect(kernel.call(maker, 'create', ['other', 'broken', {}])).rejects.toThrow(/vat "other" failed to start: .*version 2 cannot start/);
    expect(kernel.hasVat('other')).toBe(false);

    await expect(kernel.call(maker, 'upgrade', ['bank', 'broken'])).rejects.toThrow(/previous version runs on/);
    expect(await kernel.call(maker, 'upgrade', ['bank', 'bankV2'])).toEqual({ name: 'bank', vatId: 'v2' });
    expect(await kernel.call(alice, 'withdraw', [2])).toBe(5);
    expect(await kernel.call(maker, 'terminate', ['bank'])).toEqual({ name: 'bank', vatId: 'v2' });
    expect(await kernel.call(maker, 'vats')).toEqual([
      { name: 'maker', vatId: 'v1', state: 'live', reason: null, runtime: 'liveslots' },
      { name: 'bank', vatId: 'v2', state: 'terminated', reason: 'the vat maker ended it', runtime: 'liveslots' },
    ]);
    kernel.close();
  });
});
