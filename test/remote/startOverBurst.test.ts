import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { decodeFrame } from '../../src/remote/frames.js';
import { parseOcapUrl } from '../../src/remote/ocapUrl.js';
import { pairTagOf } from '../../src/remote/pairTag.js';
import { testVat } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';
import { RawPeer } from '../support/rawPeer.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const newIncarnation = 'd1'.repeat(16);

/** A network on which the frames from P that `control.hold` picks are kept in `held`, to arrive when the test says (together, in one synchronous burst). */
function holdingNetwork() {
  const control: { hold?: (frame: Uint8Array) => boolean } = {};
  const held: Array<{ arrive: () => void; frame: Uint8Array }> = [];
  const network = new MemoryNetwork((from, _to, arrive, frame) => {
    if (from === 'P' && control.hold?.(frame) === true) held.push({ arrive, frame });
    else setImmediate(arrive);
  });
  return { network, control, held };
}

/**
 * Node A and a raw peer P that A answers twice: P's ack of the first is
 * applied, its ack of the second held (`oldAck`), to arrive when the test
 * says.
 */
async function pairWithHeldAck() {
  const { network, control, held } = holdingNetwork();
  const dir = dirs.make('ken-A-');
  const started = await startNode({ dir, transport: { kind: 'memory', network, peerId: 'A' } });
  await started.node.kernel.createVat({ name: 'bootstrap', bundle: await testVat('peer') });
  const { swiss } = parseOcapUrl(await started.node.issueUrl(started.node.kernel.rootOf('bootstrap')));
  const incarnationOfA = started.node.store.meta.incarnation();
  const peer = new RawPeer(network.transport('P'), 'A', incarnationOfA);

  await peer.send({ kind: 'redeem', swiss, result: 'p+1' });
  await peer.answer('p+1');
  await eventually('A has P\'s ack of 1', () => started.node.store.peers.get('P')?.ackedSeq === 1);
  control.hold = (frame) => decodeFrame(frame).type === 'ack';
  await peer.send({ kind: 'redeem', swiss, result: 'p+2' });
  await peer.answer('p+2');
  await eventually('P\'s ack of A\'s answer 2, held', () => held.length === 1);
  const oldAck = held.pop()!;
  expect(decodeFrame(oldAck.frame)).toMatchObject({ type: 'ack', ack: 2 });
  await started.node.kernel.run();

  /** P comes back as a new incarnation (it lost its state): its hello, held until the test lets it arrive. */
  const newHello = async () => {
    control.hold = () => true;
    await peer.sendFrame({ type: 'hello', incarnation: newIncarnation, yourIncarnation: incarnationOfA, receivedSeq: 0, receivedDigest: null, window: 1000, sentSeq: 0, ackedSeq: 0, addresses: [], startedOver: null });
    control.hold = undefined;
    return held.pop()!;
  };
  return { ...started, dir, network, peer, oldAck, newHello, swiss, incarnationOfA };
}

/** The old ack was taken for the old pair's: counted, no bad frame, no connection closed, the new pair's numbers untouched. */
async function expectOldAckIgnored(node: Awaited<ReturnType<typeof startNode>>['node'], logger: Awaited<ReturnType<typeof startNode>>['logger'], peer: RawPeer, disconnects: number) {
  const { stats } = node.sessions;
  await eventually('the old ack judged', () => stats.framesOfMismatchedPair + stats.badFrames >= 1);
  await node.kernel.run();
  expect(stats.framesOfMismatchedPair).toBe(1);
  expect(stats.badFrames).toBe(0);
  expect(logger.entries.filter((entry) => entry.message?.startsWith('bad frame'))).toEqual([]);
  expect(peer.disconnects).toBe(disconnects);
  expect(node.store.peers.get('P')).toMatchObject({ incarnation: newIncarnation, ackedSeq: 0, receivedSeq: 0, startOvers: 1 });
}

/** Node A and a raw peer P: P's stream opens with its hello, so A knows P, and has consumed none of its messages. */
async function nodeKnowingP() {
  const { network, control, held } = holdingNetwork();
  const { node, logger } = await startNode({ dir: dirs.make('ken-A-'), transport: { kind: 'memory', network, peerId: 'A' } });
  await node.kernel.createVat({ name: 'bootstrap', bundle: await testVat('peer') });
  const { swiss } = parseOcapUrl(await node.issueUrl(node.kernel.rootOf('bootstrap')));
  const incarnationOfA = node.store.meta.incarnation();
  const peer = new RawPeer(network.transport('P'), 'A', incarnationOfA);
  await peer.sendFrame({ type: 'ack', ack: 0, window: 1000, pair: peer.pair, sent: 0 });
  await eventually('A knows P', () => node.store.peers.get('P')?.incarnation === peer.incarnation);
  await node.kernel.run();
  return { control, held, node, logger, swiss, incarnationOfA, peer };
}

/** The old pair's message 1 was taken for the old pair's: counted, not consumed (no answer), no bad frame; the new pair has consumed nothing. */
function expectOldMessageIgnored(node: Awaited<ReturnType<typeof startNode>>['node'], logger: Awaited<ReturnType<typeof startNode>>['logger'], peer: RawPeer) {
  expect(node.sessions.stats.framesOfMismatchedPair).toBe(1);
  expect(node.store.peers.get('P')).toMatchObject({ incarnation: newIncarnation, receivedSeq: 0, startOvers: 1 });
  expect(peer.answers.has('p+1')).toBe(false);
  expect(logger.entries.filter((entry) => entry.message?.startsWith('bad frame'))).toEqual([]);
}

describe('a pair that starts over', () => {
  // Over TCP, the frames of one chunk are handed on together (frameCodec.ts),
  // so the kernel queues the crank of a hello and the frames after it before
  // the first of them runs; with group commit those cranks share a COMMIT.
  it('does not judge a frame of the old pair, read in one burst after the hello that starts the pair over, against the new one', async () => {
    const { node, logger, peer, oldAck, newHello } = await pairWithHeldAck();
    const hello = await newHello();
    hello.arrive();
    oldAck.arrive();
    await expectOldAckIgnored(node, logger, peer, 0);
    await node.stop();
  });

  it('does not take an ack of the old pair, read after the start-over, for one of the new pair\'s messages: its pair tag names the old pair', async () => {
    const { node, peer, oldAck, newHello, swiss, incarnationOfA } = await pairWithHeldAck();
    const hello = await newHello();
    hello.arrive();
    await eventually('A started the pair over', () => node.store.peers.get('P')?.startOvers === 1);
    await node.kernel.run();
    // The new P asks twice, and A answers twice: its messages 1 and 2 of the new pair, unacked (P's raw side acks only the old pair's numbers).
    const newPair = pairTagOf(newIncarnation, incarnationOfA);
    for (const seq of [1, 2]) await peer.sendFrame({ type: 'msg', seq, ack: 0, window: 1000, pair: newPair, body: { kind: 'redeem', swiss, result: `p+${10 + seq}`, seen: 0 } });
    await eventually('A answered both', () => node.store.peers.get('P')?.nextSendSeq === 3);
    await node.kernel.run();
    // The old pair's ack of 2 comes now: within what the new pair sent.
    const { stats } = node.sessions;
    oldAck.arrive();
    await eventually('the old ack judged', () => stats.framesOfMismatchedPair >= 1 || node.store.peers.get('P')?.ackedSeq !== 0);
    await node.kernel.run();
    expect(stats.framesOfMismatchedPair).toBe(1);
    expect(node.store.peers.get('P')).toMatchObject({ incarnation: newIncarnation, ackedSeq: 0, receivedSeq: 2, nextSendSeq: 3 });
    expect(node.sessions.outboxDepth('P')).toBe(2);
    await node.stop();
  });

  // Found by the simulation (seed 530 of the mixed sweep): the start-over was in an earlier process of the node.
  it('does not take a frame of the old pair for a peer\'s error after a restart either', async () => {
    const first = await pairWithHeldAck();
    const hello = await first.newHello();
    hello.arrive();
    await eventually('A started the pair over', () => first.node.store.peers.get('P')?.incarnation === newIncarnation);
    await first.node.kernel.run();
    await first.node.stop();
    const { node, logger } = await startNode({ dir: first.dir, transport: { kind: 'memory', network: first.network, peerId: 'A' } });
    // P's hello to the new process, then the old ack, sent again as a
    // delaying link sends a frame it held (the faulty transport does: a
    // delay outlasts the connection the frame was first written on).
    const again = await first.newHello();
    again.arrive();
    await node.kernel.run();
    const disconnects = first.peer.disconnects;
    await first.peer.transport.send('A', [first.oldAck.frame]);
    await expectOldAckIgnored(node, logger, first.peer, disconnects);
    await node.stop();
  });

  it('does not consume a message of the old pair screened before the hello that starts the pair over had its crank', async () => {
    const { control, held, node, logger, swiss, incarnationOfA, peer } = await nodeKnowingP();

    // The old pair's message 1 is read right after P's hello as a new
    // incarnation, in one burst: screened as the next message (the new pair
    // has consumed none either), its crank after the hello's.
    control.hold = () => true;
    await peer.send({ kind: 'redeem', swiss, result: 'p+1' });
    await peer.sendFrame({ type: 'hello', incarnation: newIncarnation, yourIncarnation: incarnationOfA, receivedSeq: 0, receivedDigest: null, window: 1000, sentSeq: 0, ackedSeq: 0, addresses: [], startedOver: null });
    control.hold = undefined;
    const [oldMessage, hello] = held;
    expect(decodeFrame(oldMessage!.frame)).toMatchObject({ type: 'msg', seq: 1 });
    // The burst comes while the kernel is in a delivery (an idle kernel
    // would run the hello's crank before it read the next frame).
    const busy = node.kernel.call(node.kernel.rootOf('bootstrap'), 'calls');
    hello!.arrive();
    oldMessage!.arrive();
    await busy;
    const { stats } = node.sessions;
    await eventually('the old message judged', () => stats.framesOfMismatchedPair + (node.store.peers.get('P')?.receivedSeq ?? 0) >= 1);
    await node.kernel.run();

    expectOldMessageIgnored(node, logger, peer);
    await node.stop();
  });

  it('does not consume a message of the old pair read after the start-over, though its seq is the new pair\'s next one: its pair tag names the old pair', async () => {
    const { control, held, node, logger, swiss, incarnationOfA, peer } = await nodeKnowingP();

    // The old pair's message 1 is held on the way; P comes back as a new
    // incarnation, and A starts the pair over, its crank run and committed.
    control.hold = () => true;
    await peer.send({ kind: 'redeem', swiss, result: 'p+1' });
    control.hold = undefined;
    const [oldMessage] = held;
    expect(decodeFrame(oldMessage!.frame)).toMatchObject({ type: 'msg', seq: 1 });
    await peer.sendFrame({ type: 'hello', incarnation: newIncarnation, yourIncarnation: incarnationOfA, receivedSeq: 0, receivedDigest: null, window: 1000, sentSeq: 0, ackedSeq: 0, addresses: [], startedOver: null });
    await eventually('the pair started over', () => node.store.peers.get('P')?.startOvers === 1);
    await node.kernel.run();

    // Now the old message comes: screened and judged against the new pair, whose next seq is 1 too.
    const { stats } = node.sessions;
    oldMessage!.arrive();
    await eventually('the old message judged', () => stats.framesOfMismatchedPair + (node.store.peers.get('P')?.receivedSeq ?? 0) >= 1);
    await node.kernel.run();

    expectOldMessageIgnored(node, logger, peer);
    await node.stop();
  });
});
