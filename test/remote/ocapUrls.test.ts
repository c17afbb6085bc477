import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { KenNode } from '../../src/node/node.js';
import { systemClock, type Clock } from '../../src/util/clock.js';
import { recordingLogger, testVat } from '../support/harness.js';
import { startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

/** The system's clock, with a calendar the test moves forward at will (a URL's expiry is judged by it). */
function skewedClock(): Clock & { skip(ms: number): void } {
  let skewMs = 0;
  return { ...systemClock, epochMs: () => systemClock.epochMs() + skewMs, skip: (ms) => void (skewMs += ms) };
}

describe('ocap URLs that expire and are revoked (in-memory transport)', () => {
  it('refuses a revoked or expired URL at redemption, saying which, on this node and from a peer; a revocation survives a restart; send redeems once', async () => {
    const network = new MemoryNetwork();
    const clock = skewedClock();
    const dirA = dirs.make('ken-url-a-');
    const { node: a } = await startNode({ dir: dirA, transport: { kind: 'memory', network, peerId: 'A' }, clock });
    const { node: b } = await startNode({ dir: dirs.make('ken-url-b-'), transport: { kind: 'memory', network, peerId: 'B' } });
    await a.kernel.createVat({ name: 'peer', bundle: await testVat('peer') });
    const root = a.kernel.rootOf('peer');

    const lasting = await a.issueUrl(root);
    const brief = await a.issueUrl(root, { expiresInMs: 60_000 });
    const revoked = await a.issueUrl(root);
    await expect(a.issueUrl(root, { expiresInMs: 0 })).rejects.toThrow("an ocap URL's life must be a whole number of milliseconds");

    // Before: every one redeems, here and from the peer; `send` redeems once and remembers.
    expect(await b.sendToUrl(brief, 'echo', ['one'])).toBe('one');
    expect(await b.sendToUrl(brief, 'echo', ['two'])).toBe('two');
    expect(b.store.dump().redeemed_urls).toHaveLength(1);

    expect(await a.revokeUrl(revoked)).toBe(true);
    expect(await a.revokeUrl(revoked)).toBe(false);
    await expect(b.redeemUrl(revoked)).rejects.toThrow('ocap URL refused: it was revoked by the operator');
    await expect(a.redeemUrl(revoked)).rejects.toThrow('ocap URL refused: it was revoked by the operator');
    await expect(a.revokeUrl(await b.issueUrl(b.services.timer))).rejects.toThrow('the ocap URL names peer B, not this node (A): only its issuer can revoke it');

    // The same through the service vats use.
    const { ocapUrls } = a.services;
    const viaService = (await a.kernel.call(ocapUrls, 'issue', [root, { expiresInMs: 30_000 }])) as string;
    expect(await b.kernel.call(await b.redeemUrl(viaService), 'echo', ['service'])).toBe('service');
    expect(await a.kernel.call(ocapUrls, 'revoke', [viaService])).toBe(true);
    await expect(b.redeemUrl(viaService)).rejects.toThrow('ocap URL refused: it was revoked through the ocap URL service');
    await expect(a.kernel.call(ocapUrls, 'issue', [root, { expiresInMs: 'soon' }])).rejects.toThrow('expiresInMs must be a number');

    clock.skip(60_000);
    await expect(b.redeemUrl(brief)).rejects.toThrow(/^ocap URL refused: it expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    // What was redeemed before stays a reference: revoking the URL does not revoke it.
    expect(await b.sendToUrl(brief, 'echo', ['three'])).toBe('three');
    expect(await b.kernel.call(await b.redeemUrl(lasting), 'echo', ['still'])).toBe('still');

    await a.stop();
    const again = await KenNode.start({ storePath: path.join(dirA, 'kernel.sqlite'), durability: 'process', logger: recordingLogger(), transport: { kind: 'memory', network, peerId: 'A' } });
    await expect(again.redeemUrl(revoked)).rejects.toThrow('it was revoked by the operator');
    await expect(again.redeemUrl(brief)).rejects.toThrow('it expired at');
    expect(await again.kernel.call(await again.redeemUrl(lasting), 'echo', ['after'])).toBe('after');
    await again.stop();
    await b.stop();
  });
});
