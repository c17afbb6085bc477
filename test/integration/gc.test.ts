import { describe, expect, it } from 'vitest';
import { krefOf } from '../../src/kernel/kmarshal.js';
import { parseVatRef } from '../../src/kernel/vatRefs.js';
import { startTestKernel, testVat } from '../support/harness.js';

describe('distributed GC between local vats', () => {
  it('drops and retires an object once its only importer lets go of it', async () => {
    // Reap after every delivery, with a forced GC each time, so drops show up at once.
    const { kernel, store } = await startTestKernel({ reapInterval: 1, forcedGcIntervalMs: 0 });
    await kernel.createVat({ name: 'exporter', bundle: await testVat('durable') });
    await kernel.createVat({ name: 'importer', bundle: await testVat('durable') });
    const exporter = kernel.rootOf('exporter');
    const importer = kernel.rootOf('importer');
    const importerId = store.vats.getByName('importer')!.vatId;
    const exporterId = store.vats.getByName('exporter')!.vatId;

    expect(await kernel.call(importer, 'holdEphemeralOf', [exporter])).toBe('held');
    const imported = store.clist
      .entriesOf(importerId)
      .filter((entry) => {
        const parsed = parseVatRef(entry.eref);
        return parsed?.kind === 'object' && !parsed.allocatedByVat && entry.kref !== krefOf(exporter);
      });
    expect(imported).toHaveLength(1);
    const kref = imported[0]!.kref as `ko${number}`;
    expect(store.objects.get(kref)).toMatchObject({ owner: exporterId, reachable: 1, recognizable: 1 });
    expect(store.clist.byKref(exporterId, kref)?.eref).toMatch(/^o\+\d+$/);

    await kernel.call(importer, 'releaseEphemeral');
    // Give liveslots' finalizers a few reaps to see the garbage.
    for (let attempt = 0; attempt < 5 && store.objects.get(kref) !== undefined; attempt += 1) {
      await kernel.call(importer, 'outcomes');
    }
    expect(store.objects.get(kref)).toBeUndefined();
    expect(store.clist.byKref(importerId, kref)).toBeUndefined();
    expect(store.clist.byKref(exporterId, kref)).toBeUndefined();
    kernel.close();
  });
});
