import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { decodeFrame } from '../../src/remote/frames.js';
import { parseOcapUrl } from '../../src/remote/ocapUrl.js';
import { testVat } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';
import { RawPeer } from '../support/rawPeer.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

describe('a pair that starts over', () => {
  // Over TCP, the frames of one chunk are handed on together (frameCodec.ts),
  // so the kernel queues the crank of a hello and the frames after it before
  // the first of them runs; with group commit those cranks share a COMMIT.
  it('does not judge a frame of the old pair, read in one burst after the hello that starts the pair over, against the new one', async () => {
    // Frames from P that `hold` picks are held, to arrive later when the test says (together, in one synchronous burst).
    let hold: ((frame: Uint8Array) => boolean) | undefined;
    const held: Array<{ arrive: () => void; frame: Uint8Array }> = [];
    const network = new MemoryNetwork((from, _to, arrive, frame) => {
      if (from === 'P' && hold?.(frame) === true) held.push({ arrive, frame });
      else setImmediate(arrive);
    });
    const { node, logger } = await startNode({ dir: dirs.make('ken-A-'), transport: { kind: 'memory', network, peerId: 'A' } });
    await node.kernel.createVat({ name: 'bootstrap', bundle: await testVat('peer') });
    const { swiss } = parseOcapUrl(await node.issueUrl(node.kernel.rootOf('bootstrap')));
    const incarnationOfA = node.store.meta.incarnation();
    const peer = new RawPeer(network.transport('P'), 'A', incarnationOfA);

    // A answers P twice (its messages 1 and 2); P's ack of the first is applied.
    await peer.send({ kind: 'redeem', swiss, result: 'p+1' });
    await peer.answer('p+1');
    await eventually('A has P\'s ack of 1', () => node.store.peers.get('P')?.ackedSeq === 1);
    hold = (frame) => decodeFrame(frame).type === 'ack';
    await peer.send({ kind: 'redeem', swiss, result: 'p+2' });
    await peer.answer('p+2');
    await eventually('P\'s ack of A\'s answer 2, held', () => held.length === 1);
    const oldAck = held.pop()!;
    expect(decodeFrame(oldAck.frame)).toMatchObject({ type: 'ack', ack: 2 });
    await node.kernel.run();

    // P comes back as a new incarnation (it lost its state); its old ack is read after that hello, in the same burst.
    hold = () => true;
    await peer.sendFrame({ type: 'hello', incarnation: 'd1'.repeat(16), yourIncarnation: incarnationOfA, receivedSeq: 0, receivedDigest: null, window: 1000, sentSeq: 0, ackedSeq: 0, addresses: [], startedOver: null });
    const newHello = held.pop()!;
    hold = undefined;
    newHello.arrive();
    oldAck.arrive();
    const { stats } = node.sessions;
    await eventually('the old ack judged', () => stats.framesOfMismatchedPair + stats.badFrames >= 1);
    await node.kernel.run();
    expect(stats.framesOfMismatchedPair).toBe(1);

    // Not a protocol error of P's: no bad frame, no connection closed, and the new pair's numbers untouched by the old ack.
    expect(node.sessions.stats.badFrames).toBe(0);
    expect(logger.entries.filter((entry) => entry.message?.startsWith('bad frame'))).toEqual([]);
    expect(peer.disconnects).toBe(0);
    expect(node.store.peers.get('P')).toMatchObject({ incarnation: 'd1'.repeat(16), ackedSeq: 0, receivedSeq: 0 });
    await node.stop();
  });
});
