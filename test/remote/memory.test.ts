import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { decodeFrame } from '../../src/remote/frames.js';
import { exampleVat } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

describe('two nodes over the in-memory transport', () => {
  it('delivers messages exactly once, in order, with results, through a redeemed ocap URL', async () => {
    const network = new MemoryNetwork();
    const a = await startNode({ dir: dirs.make('ken-a-'), transport: { kind: 'memory', network, peerId: 'peerA' } });
    const b = await startNode({ dir: dirs.make('ken-b-'), transport: { kind: 'memory', network, peerId: 'peerB' } });
    await a.node.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    await b.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });

    const url = await b.node.issueUrl(b.node.kernel.rootOf('recorder'));
    expect(url).toMatch(/^ocap:[0-9a-f]{32}@peerB,/);
    const remoteRecorder = await a.node.redeemUrl(url);

    const statsOfB = { ...b.node.kernel.stats };
    expect(await a.node.kernel.call(a.node.kernel.rootOf('sender'), 'sendBatch', [remoteRecorder, 100, 100])).toBe(100);
    const recorder = b.node.kernel.rootOf('recorder');
    await eventually('100 messages consumed on B', async () => (await b.node.kernel.call(recorder, 'count')) === 100);
    // B's cranks besides its vats' deliveries: a few receive cranks for the
    // runs of frames, and none to route the results back (each is an outbox
    // row of the delivery that resolved it).
    const cranksWithoutVat = b.node.kernel.stats.cranks - statsOfB.cranks - (b.node.kernel.stats.deliveries - statsOfB.deliveries);
    expect(cranksWithoutVat).toBeLessThan(25);
    expect(await b.node.kernel.call(recorder, 'entries')).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    // Round trips: each result comes back across the wire.
    expect(await a.node.kernel.call(a.node.kernel.rootOf('sender'), 'pingPong', [remoteRecorder, 5])).toBe(5);
    await eventually('outboxes drained', () => a.node.sessions.outboxDepth('peerB') === 0 && b.node.sessions.outboxDepth('peerA') === 0);
    await a.node.stop();
    await b.node.stop();
  });

  it('redials a peer it cannot reach at most once per resend delay, however often it commits, and delivers once the link is back', async () => {
    const network = new MemoryNetwork();
    const resendMs = 200;
    const a = await startNode({ dir: dirs.make('ken-a-'), transport: { kind: 'memory', network, peerId: 'peerA' }, session: { resendMs } });
    const b = await startNode({ dir: dirs.make('ken-b-'), transport: { kind: 'memory', network, peerId: 'peerB' }, session: { resendMs } });
    await a.node.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    const sender = a.node.kernel.rootOf('sender');
    await b.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    const remoteRecorder = await a.node.redeemUrl(await b.node.issueUrl(b.node.kernel.rootOf('recorder')));

    network.cut('peerA', 'peerB');
    const cutAt = Date.now();
    const failedSends = () => a.logger.entries.filter((entry) => entry.message?.startsWith('send failed')).length;
    await a.node.kernel.call(sender, 'sendBatch', [remoteRecorder, 20, 20]);
    // 100 more COMMITs on A while B is out of reach: each one used to redial it.
    for (let call = 0; call < 100; call += 1) await a.node.kernel.call(sender, 'nextSeq');
    expect(failedSends()).toBeGreaterThan(0);
    expect(failedSends()).toBeLessThanOrEqual(2 + Math.floor((Date.now() - cutAt) / resendMs));

    network.restore('peerA', 'peerB');
    const recorder = b.node.kernel.rootOf('recorder');
    await eventually('20 messages consumed on B', async () => (await b.node.kernel.call(recorder, 'count')) === 20);
    expect(await b.node.kernel.call(recorder, 'entries')).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await a.node.stop();
    await b.node.stop();
  });

  // A restarted node judges a peer's acks only after a hello from it; when
  // the hello that opens the peer's stream is lost (a lossy link, as the
  // simulation's faults have it), the acks that follow on that stream used
  // to be ignored for as long as it lasted: the outbox never drained. Now the
  // node asks for a hello, and the peer answers one that shows it lacks its acks.
  it('drains its outbox after a restart even when the first hello of the peer is lost', async () => {
    let dropHelloFrom: string | undefined;
    let droppedHellos = 0;
    const network = new MemoryNetwork((from, _to, arrive, frame) => {
      if (from === dropHelloFrom && decodeFrame(frame).type === 'hello') {
        dropHelloFrom = undefined;
        droppedHellos += 1;
        return;
      }
      setImmediate(arrive);
    });
    const dirA = dirs.make('ken-a-');
    const a = await startNode({ dir: dirA, transport: { kind: 'memory', network, peerId: 'peerA' } });
    const b = await startNode({ dir: dirs.make('ken-b-'), transport: { kind: 'memory', network, peerId: 'peerB' } });
    await a.node.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    await b.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    const sender = a.node.kernel.rootOf('sender');
    await a.node.kernel.call(sender, 'setTarget', [await a.node.redeemUrl(await b.node.issueUrl(b.node.kernel.rootOf('recorder')))]);

    // Five rows committed while B is out of reach, still in A's outbox when A stops.
    network.cut('peerA', 'peerB');
    await a.node.kernel.call(sender, 'sendOnlyBatchToTarget', [5, 5]);
    expect(a.node.sessions.outboxDepth('peerB')).toBe(5);
    await a.node.stop();
    network.restore('peerA', 'peerB');

    dropHelloFrom = 'peerB';
    const restarted = await startNode({ dir: dirA, transport: { kind: 'memory', network, peerId: 'peerA' } });
    const recorder = b.node.kernel.rootOf('recorder');
    await eventually('5 messages consumed on B', async () => (await b.node.kernel.call(recorder, 'count')) === 5);
    await eventually("A's outbox to B drained", () => restarted.node.sessions.outboxDepth('peerB') === 0, 10_000);
    expect(droppedHellos).toBe(1);
    expect(await b.node.kernel.call(recorder, 'entries')).toEqual([1, 2, 3, 4, 5]);
    await restarted.node.stop();
    await b.node.stop();
  });
});
