import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { UnknownPeerError } from '../../src/remote/peerSessions.js';
import { testVat } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';
import { RawPeer } from '../support/rawPeer.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

async function nodeWithPeerVat(network: MemoryNetwork, name: string, dir = dirs.make(`ken-${name}-`), maxIdlePeers?: number) {
  const started = await startNode({ dir, transport: { kind: 'memory', network, peerId: name }, session: maxIdlePeers === undefined ? {} : { maxIdlePeers } });
  if (!started.node.kernel.hasVat('peer')) await started.node.kernel.createVat({ name: 'peer', bundle: await testVat('peer') });
  return { ...started, dir, url: await started.node.issueUrl(started.node.kernel.rootOf('peer')) };
}

describe('a peer that is gone for good: the operator forgets it (in-memory transport)', () => {
  it('rejects what it decided and what waits in its outbox, logs what was dropped, refuses it from then on, and stays forgotten across a restart', async () => {
    const network = new MemoryNetwork();
    const a = await nodeWithPeerVat(network, 'A');
    const b = await nodeWithPeerVat(network, 'B');
    const rootA = a.node.kernel.rootOf('peer');
    const remoteB = await a.node.redeemUrl(b.url);
    const held = a.node.kernel.queueToKref(rootA, 'call', [remoteB, 'hold']);
    await a.node.kernel.run();
    await eventually('A\'s outbox to B to drain', () => a.node.sessions.outboxDepth('B') === 0);
    // B vanishes; two more messages wait in A's outbox.
    network.cut('A', 'B');
    const unsent = [a.node.kernel.queueToKref(rootA, 'call', [remoteB, 'echo', 1]), a.node.kernel.queueToKref(rootA, 'call', [remoteB, 'echo', 2])];
    await a.node.kernel.run();
    expect(a.node.sessions.outboxDepth('B')).toBe(2);
    const sentBefore = a.node.store.peers.get('B')!.nextSendSeq - 1;

    const dropped = await a.node.sessions.forget('B');
    expect(dropped).toEqual({ peerId: 'B', rejectedPromises: 3, droppedMessages: 2, droppedSeqs: [sentBefore - 1, sentBefore] });
    for (const result of [held, ...unsent]) await expect(result).rejects.toThrow('peer B was forgotten by this node\'s operator');
    const logged = a.logger.entries.find((entry) => entry.message?.startsWith('peer B was forgotten'));
    expect(logged).toMatchObject({ level: 'warn', object: { peerId: 'B', rejectedPromises: 3, droppedMessages: 2 } });
    expect(a.node.sessions.outboxDepth('B')).toBe(0);
    // Nothing more goes to it: a send to the object it exported, or a redeem of its URL, rejects at once.
    await expect(a.node.kernel.call(rootA, 'call', [remoteB, 'echo', 3])).rejects.toThrow(/was lost: peer B was forgotten/);
    await expect(a.node.redeemUrl(b.url)).rejects.toThrow('cannot redeem the ocap URL: peer B was forgotten');
    expect(a.node.sessions.outboxDepth('B')).toBe(0);
    await expect(a.node.sessions.forget('B')).rejects.toBeInstanceOf(UnknownPeerError);
    await expect(a.node.sessions.forget('nobody')).rejects.toBeInstanceOf(UnknownPeerError);

    // B comes back and says hello: A reads nothing of it and closes its connection.
    network.restore('A', 'B');
    const before = a.node.store.dump();
    const framesFromB = b.node.kernel.call(b.node.kernel.rootOf('peer'), 'redeemAndCall', [a.url, 'echo', 'anyone?']);
    void framesFromB.catch(() => {});
    await eventually('A to close the forgotten B\'s connection', () => a.logger.entries.some((entry) => entry.message === 'a forgotten peer connected: closed its connection'));
    await a.node.kernel.run();
    expect(a.node.store.dump()).toEqual(before);

    // After a restart, still forgotten.
    await a.node.stop();
    const again = await nodeWithPeerVat(network, 'A', a.dir);
    expect(again.node.store.peers.get('B')?.forgotten).toBe('peer B was forgotten by this node\'s operator');
    await expect(again.node.redeemUrl(b.url)).rejects.toThrow('peer B was forgotten');
    await b.node.stop();
    await again.node.stop();
  });
});

describe('peer ids that never share anything', () => {
  it('keep at most maxIdlePeers rows: the oldest idle ones go, and a peer that exchanged messages stays', async () => {
    const network = new MemoryNetwork();
    const maxIdlePeers = 3;
    const a = await nodeWithPeerVat(network, 'A', undefined, maxIdlePeers);
    const b = await nodeWithPeerVat(network, 'B');
    const remoteA = await b.node.redeemUrl(a.url);
    expect(await b.node.kernel.call(b.node.kernel.rootOf('peer'), 'call', [remoteA, 'echo', 'kept'])).toBe('kept');
    const incarnation = a.node.store.meta.incarnation();
    // Ten peer ids say hello and nothing more.
    for (let index = 0; index < 10; index += 1) {
      const stranger = new RawPeer(network.transport(`stranger-${index}`), 'A', incarnation);
      await stranger.sendFrame({ type: 'ack', ack: 0, window: 0 });
      await eventually(`A to hear stranger ${index}`, () => a.node.store.peers.get(`stranger-${index}`) !== undefined);
    }
    await a.node.kernel.run();
    const rows = a.node.store.peers.all().map((peer) => peer.peerId);
    expect(rows).toEqual(['B', 'stranger-7', 'stranger-8', 'stranger-9']);
    // B, which shares a c-list and messages with A, is untouched and still served.
    expect(await b.node.kernel.call(b.node.kernel.rootOf('peer'), 'call', [remoteA, 'echo', 'still'])).toBe('still');
    await b.node.stop();
    await a.node.stop();
  });
});
