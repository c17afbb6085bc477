import { afterEach, describe, expect, it } from 'vitest';
import { exampleVat } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

describe.each([
  ['TCP', '/ip4/127.0.0.1/tcp/0'],
  ['WebSockets', '/ip4/127.0.0.1/tcp/0/ws'],
])('two nodes over libp2p %s on loopback', (_name, listen) => {
  it('exchange messages and results through an ocap URL, and keep their peer ids across restarts', async () => {
    const dirA = dirs.make('ken-a-');
    const dirB = dirs.make('ken-b-');
    const a = await startNode({ dir: dirA, transport: { kind: 'libp2p', listen: [listen] } });
    const b = await startNode({ dir: dirB, transport: { kind: 'libp2p', listen: [listen] } });
    await a.node.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    await b.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    const url = await b.node.issueUrl(b.node.kernel.rootOf('recorder'));
    expect(url).toContain(listen.endsWith('/ws') ? '/ws/p2p/' : '/tcp/');
    const remote = await a.node.redeemUrl(url);
    expect(await a.node.kernel.call(a.node.kernel.rootOf('sender'), 'pingPong', [remote, 20])).toBe(20);
    expect(await b.node.kernel.call(b.node.kernel.rootOf('recorder'), 'entries')).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    await eventually('outboxes drained', () => a.node.sessions.outboxDepth(b.node.peerId) === 0);

    const peerIdA = a.node.peerId;
    await a.node.stop();
    const again = await startNode({ dir: dirA, transport: { kind: 'libp2p', listen: [listen] } });
    expect(again.node.peerId).toBe(peerIdA);
    await again.node.stop();
    await b.node.stop();
  });
});
