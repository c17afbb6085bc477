import { describe, expect, it } from 'vitest';
import { startTestKernel, testVat } from '../../test/support/harness.js';

describe('kernel: local messages', () => {
  it('delivers sends between vats and settles the host result after commit', async () => {
    const { kernel } = await startTestKernel();
    await kernel.createVat({ name: 'recorder', bundle: await testVat('recorder') });
    await kernel.createVat({ name: 'sender', bundle: await testVat('sender') });
    const last = await kernel.call(kernel.rootOf('sender'), 'sendBatch', [kernel.rootOf('recorder'), 50, 1000]);
    expect(last).toBe(50);
    expect(await kernel.call(kernel.rootOf('recorder'), 'entries')).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await kernel.call(kernel.rootOf('sender'), 'pingPong', [kernel.rootOf('recorder'), 5])).toBe(5);
    expect(await kernel.call(kernel.rootOf('recorder'), 'count')).toBe(55);
    kernel.close();
  });
});
