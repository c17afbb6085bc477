import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { exampleVat, startTestKernel } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

describe('send-only messages (E.sendOnly)', () => {
  it('reach a vat on the same node, once each, in order', async () => {
    const { kernel } = await startTestKernel();
    await kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    await kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    const recorder = kernel.rootOf('recorder');
    const sender = kernel.rootOf('sender');
    const cranksOf = async (method: string, last: number) => {
      const before = kernel.stats.cranks;
      await kernel.call(sender, method, [recorder, 50, last]);
      await kernel.run();
      return kernel.stats.cranks - before;
    };
    const sendOnlyCranks = await cranksOf('sendOnlyBatch', 50);
    expect(await kernel.call(recorder, 'entries')).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    // One crank per message, and the call's own: with results, the messages
    // also cost the notify that brings their results back to the sender
    // (one delivery here: the 50 are queued one after another).
    expect(sendOnlyCranks).toBe(50 + 1);
    expect(await cranksOf('sendBatch', 100)).toBe(50 + 1 + 1);
    kernel.close();
  });

  it('reach a vat on another node, once each, in order, with nothing sent back but acks', async () => {
    const network = new MemoryNetwork();
    const a = await startNode({ dir: dirs.make('ken-a-'), transport: { kind: 'memory', network, peerId: 'peerA' } });
    const b = await startNode({ dir: dirs.make('ken-b-'), transport: { kind: 'memory', network, peerId: 'peerB' } });
    await a.node.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    await b.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    const remoteRecorder = await a.node.redeemUrl(await b.node.issueUrl(b.node.kernel.rootOf('recorder')));
    const rowsFromB = b.node.store.peers.get('peerA')!.nextSendSeq;

    const statsOfB = { ...b.node.kernel.stats };
    const cranksOfA = a.node.kernel.stats.cranks;
    expect(await a.node.kernel.call(a.node.kernel.rootOf('sender'), 'sendOnlyBatch', [remoteRecorder, 50, 50])).toBe(50);
    // The sender's crank wrote the 50 outbox rows as its buffer was flushed: no routing crank for each.
    expect(a.node.kernel.stats.cranks - cranksOfA).toBe(1);
    const recorder = b.node.kernel.rootOf('recorder');
    await eventually('50 messages consumed on B', async () => (await b.node.kernel.call(recorder, 'count')) === 50);
    // The frames came in runs while B's kernel was busy delivering: each run consumed in one crank, not one crank a frame.
    const receiveCranks = b.node.kernel.stats.cranks - statsOfB.cranks - (b.node.kernel.stats.deliveries - statsOfB.deliveries);
    expect(receiveCranks).toBeLessThan(25);
    expect(await b.node.kernel.call(recorder, 'entries')).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await eventually('A\'s outbox drained', () => a.node.sessions.outboxDepth('peerB') === 0);
    // No result, so no notify: B wrote no outbox row for A.
    expect(b.node.store.peers.get('peerA')!.nextSendSeq).toBe(rowsFromB);
    await a.node.stop();
    await b.node.stop();
  });

  it('are held above a full outbox\'s limit, not refused (they have no result to reject), and all arrive once the peer acks', async () => {
    const network = new MemoryNetwork();
    const session = { maxUnackedPerPeer: 5 };
    const a = await startNode({ dir: dirs.make('ken-a-'), transport: { kind: 'memory', network, peerId: 'peerA' }, session });
    const b = await startNode({ dir: dirs.make('ken-b-'), transport: { kind: 'memory', network, peerId: 'peerB' }, session });
    await a.node.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    await b.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    const remoteRecorder = await a.node.redeemUrl(await b.node.issueUrl(b.node.kernel.rootOf('recorder')));
    const sender = a.node.kernel.rootOf('sender');

    network.cut('peerA', 'peerB');
    await a.node.kernel.call(sender, 'sendOnlyBatch', [remoteRecorder, 20, 20]);
    await a.node.kernel.run();
    expect(a.node.sessions.outboxDepth('peerB')).toBe(20);
    expect(a.node.sessions.stats.sendOnlyHeld).toBe(15);
    expect(a.node.sessions.stats.sendsRefused).toBe(0);
    expect(a.logger.entries.filter((entry) => entry.message?.startsWith('outbox to peer is full: send-only messages'))).toHaveLength(1);
    // A send with a result is refused at the limit as before: its sender hears why.
    await expect(a.node.kernel.call(sender, 'pingPong', [remoteRecorder, 1])).rejects.toThrow(/not sent: 20 messages to peer peerB are waiting/);

    network.restore('peerA', 'peerB');
    const recorder = b.node.kernel.rootOf('recorder');
    await eventually('20 messages consumed on B', async () => (await b.node.kernel.call(recorder, 'count')) === 20);
    expect(await b.node.kernel.call(recorder, 'entries')).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await eventually('A\'s outbox drained', () => a.node.sessions.outboxDepth('peerB') === 0);
    await a.node.stop();
    await b.node.stop();
  });
});
