import path from 'node:path';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { Stream } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p } from 'libp2p';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { kenProtocol, type Libp2pTransport } from '../../src/net/libp2pTransport.js';
import { KenNode } from '../../src/node/node.js';
import { decodeFrame, encodeFrame } from '../../src/remote/frames.js';
import { parseOcapUrl } from '../../src/remote/ocapUrl.js';
import { pairTagOf } from '../../src/remote/pairTag.js';
import { defaultSessionOptions } from '../../src/remote/session.js';
import { systemClock } from '../../src/util/clock.js';
import { exampleVat, recordingLogger, testVat } from '../support/harness.js';
import { residentAfterGc } from '../support/memory.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const queued = 100_000;
const limit = defaultSessionOptions.maxUnackedPerPeer;
/**
 * What this node may add to its resident memory (after a full GC) for a
 * peer that never reads, whatever is sent to it. Measured: +52 MB with the
 * limit, +300 MB without it (all 100,000 sends accepted).
 */
const rssBoundBytes = 128 * 1024 * 1024;

interface Tally {
  fulfilled: number;
  refused: number;
  reasons: string[];
}

describe('a peer that never reads', () => {
  it(`cannot make the node hold more than ${limit} messages for it: of ${queued} sends the rest are refused to the sender, the outbox stays on disk, and memory stays bounded`, async () => {
    const network = new MemoryNetwork();
    const a = await startNode({ dir: dirs.make('ken-a-'), transport: { kind: 'memory', network, peerId: 'a' } });
    const b = await startNode({ dir: dirs.make('ken-b-'), transport: { kind: 'memory', network, peerId: 'b' } });
    await a.node.kernel.createVat({ name: 'flooder', bundle: await testVat('flooder') });
    await b.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    const remoteRecorder = await a.node.redeemUrl(await b.node.issueUrl(b.node.kernel.rootOf('recorder')));
    const flooder = a.node.kernel.rootOf('flooder');
    // From now on b hears nothing: it neither reads nor acks.
    network.cut('a', 'b');

    const rssBefore = residentAfterGc();
    let rssPeak = rssBefore;
    for (let sent = 0; sent < queued; sent += 1000) {
      await a.node.kernel.call(flooder, 'flood', [remoteRecorder, 1000]);
      rssPeak = Math.max(rssPeak, residentAfterGc());
    }
    await a.node.kernel.run();
    const tally = (await a.node.kernel.call(flooder, 'tally')) as Tally;
    console.log(
      `never-reading peer: ${queued} sends, ${a.node.sessions.outboxDepth('b')} rows in the outbox, ${tally.refused} refused; ` +
        `RSS after a full GC ${Math.round(rssBefore / 1e6)} MB before, peak ${Math.round(rssPeak / 1e6)} MB (bound: +${rssBoundBytes / 1024 / 1024} MiB)`,
    );

    expect(a.node.sessions.outboxDepth('b')).toBe(limit);
    expect(tally).toEqual({
      fulfilled: 0,
      refused: queued - limit,
      reasons: [`not sent: ${limit} messages to peer b are waiting for its acknowledgement (the limit is ${limit}); send again later`],
    });
    expect(a.node.sessions.stats.sendsRefused).toBe(queued - limit);
    expect(a.logger.entries.filter((entry) => entry.message === 'outbox to peer is full: refusing sends to it until it acks')).toHaveLength(1);
    expect(rssPeak - rssBefore).toBeLessThan(rssBoundBytes);

    // Once b reads again, every message that was accepted arrives, once, in order, and sends are accepted again.
    network.restore('a', 'b');
    const recorder = b.node.kernel.rootOf('recorder');
    await eventually('b to consume the accepted messages', async () => (await b.node.kernel.call(recorder, 'count')) === limit, 120_000);
    expect(await b.node.kernel.call(recorder, 'entries')).toEqual(Array.from({ length: limit }, (_, index) => index + 1));
    await eventually('the outbox to drain', () => a.node.sessions.outboxDepth('b') === 0, 60_000);
    await a.node.kernel.call(flooder, 'flood', [remoteRecorder, 5]);
    await eventually('5 more consumed', async () => (await b.node.kernel.call(recorder, 'count')) === limit + 5, 60_000);
    await eventually('their results back', async () => ((await a.node.kernel.call(flooder, 'tally')) as Tally).fulfilled === limit + 5, 60_000);
    await a.node.stop();
    await b.node.stop();
  }, 600_000);
});

describe('a peer that floods', () => {
  it('costs no crank with frames that say nothing new, gets no more consumed than its credit, and does not slow another peer', async () => {
    // A clock that stands still unless the test moves it: credit is paid for on it, timers run on real time.
    let now = 0;
    const clock = { ...systemClock, now: () => now };
    const network = new MemoryNetwork();
    const logger = recordingLogger();
    const dir = dirs.make('ken-flooded-');
    const burst = 300;
    const victim = await KenNode.start({
      storePath: path.join(dir, 'kernel.sqlite'),
      durability: 'process',
      logger,
      transport: { kind: 'memory', network, peerId: 'victim' },
      clock,
      session: { inboundFramesPerSecond: 1_000, inboundFrameBurst: burst },
    });
    await victim.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    const { swiss } = parseOcapUrl(await victim.issueUrl(victim.kernel.rootOf('recorder')));
    const flooder = network.transport('flooder');
    const windows: number[] = [];
    flooder.setHandlers({
      frame: (_peer, bytes) => void windows.push(decodeFrame(bytes).window),
      helloFrame: () => encodeFrame({ type: 'hello', incarnation: 'f'.repeat(32), yourIncarnation: null, receivedSeq: 0, receivedDigest: null, window: 1000, sentSeq: 0, ackedSeq: 0, addresses: [], startedOver: null }),
      connected: () => {},
      disconnected: () => {},
    });
    let received = 0;
    const flood = async (frames: Uint8Array[]) => {
      await flooder.send('victim', frames);
      received += frames.length;
      await eventually('the flood to arrive', () => victim.sessions.stats.framesReceived >= received);
      await victim.kernel.run();
    };
    await flood([]);
    received = 1; // the hello
    await eventually('the hello to arrive', () => victim.sessions.stats.framesReceived === 1);
    await victim.kernel.run();

    // Acks of nothing and repeated hellos: valid, and dropped before they cost a crank.
    const cranks = victim.kernel.stats.cranks;
    const hello = encodeFrame({ type: 'hello', incarnation: 'f'.repeat(32), yourIncarnation: null, receivedSeq: 0, receivedDigest: null, window: 1000, sentSeq: 0, ackedSeq: 0, addresses: [], startedOver: null });
    // Its hello names no incarnation of the victim's: its frames carry a first contact's pair tag.
    const pair = pairTagOf('f'.repeat(32), null);
    await flood(Array.from({ length: 5_000 }, (_, index) => (index % 2 === 0 ? encodeFrame({ type: 'ack', ack: 0, window: 1000, pair, sent: 0 }) : hello)));
    expect(victim.kernel.stats.cranks).toBe(cranks);
    expect(victim.sessions.stats.badFrames).toBe(0);

    // 2,000 messages at once, each one a crank if taken: only the credit granted (the burst) is consumed.
    const redeem = (seq: number) => encodeFrame({ type: 'msg', seq, ack: 0, window: 1000, pair, body: { kind: 'redeem', swiss, result: `p+${seq}`, seen: 0 } });
    await flood(Array.from({ length: 2_000 }, (_, index) => redeem(index + 1)));
    expect(victim.store.peers.get('flooder')?.receivedSeq).toBe(burst);
    expect(victim.sessions.stats.framesBeyondWindow).toBe(1);
    expect(victim.sessions.stats.gapsDropped).toBe(2_000 - burst - 1);
    // What it was told: no more than it could have.
    expect(Math.max(...windows)).toBe(burst);
    // Time pays for more: a refill grants it (and says so), and the next ones are taken.
    now += 200;
    await eventually('a window update', () => windows.some((window) => window > burst));
    await flood(Array.from({ length: 100 }, (_, index) => redeem(burst + 1 + index)));
    expect(victim.store.peers.get('flooder')?.receivedSeq).toBe(burst + 100);

    // Another peer has credit of its own.
    const other = await startNode({ dir: dirs.make('ken-other-'), transport: { kind: 'memory', network, peerId: 'other' } });
    await other.node.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    const remote = await other.node.redeemUrl(await victim.issueUrl(victim.kernel.rootOf('recorder')));
    now += 1_000;
    await other.node.kernel.call(other.node.kernel.rootOf('sender'), 'sendBatch', [remote, 100, 100]);
    await eventually("the other peer's 100 messages", async () => (await victim.kernel.call(victim.kernel.rootOf('recorder'), 'count')) === 100);
    expect(victim.sessions.stats.framesBeyondWindow).toBe(1);
    await other.node.stop();
    await victim.stop();
  });
});

/** Fewer than the default, to show the setting is the one in force. */
const maxConnections = 2;

describe('connection limits over libp2p', () => {
  it('refuses connections from one peer past its limit, and a third frame stream on one connection', async () => {
    const { node, logger } = await startNode({
      dir: dirs.make('ken-limited-'),
      transport: { kind: 'libp2p', listen: ['/ip4/127.0.0.1/tcp/0'], maxConnectionsPerPeer: maxConnections },
    });
    const greedy = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] });
    try {
      const address = multiaddr(node.transport.addresses()[0] as string);
      const transport = node.transport as Libp2pTransport;
      const greedyId = greedy.peerId.toString();
      let accepted = 0;
      let most = 0;
      for (let attempt = 0; attempt < 5; attempt += 1) {
        if (await greedy.dial(address, { force: true }).then(() => true, () => false)) accepted += 1;
        // Judge the next attempt against every connection this node has registered so far.
        await eventually('the node to register the connection', () => transport.connectionsWith(greedyId) >= Math.min(accepted, maxConnections));
        most = Math.max(most, transport.connectionsWith(greedyId));
      }
      // Some attempts past the cap meet it; libp2p's own limit on how fast one host may connect may turn away others first.
      expect(most).toBe(maxConnections);
      expect(logger.entries.filter((entry) => entry.message === `refused a connection: the peer has ${maxConnections} already`).length).toBeGreaterThan(0);

      const connection = greedy.getConnections().find((candidate) => candidate.status === 'open');
      if (connection === undefined) throw new Error('no open connection');
      // Each opens; the node resets the one past its limit once it sees the protocol.
      const streams: Stream[] = [];
      for (let attempt = 0; attempt < 3; attempt += 1) streams.push(await connection.newStream(kenProtocol, { negotiateFully: true }));
      await eventually('the third stream to be reset', () => streams[2]?.status !== 'open');
      expect(streams.slice(0, 2).map((stream) => stream.status)).toEqual(['open', 'open']);
    } finally {
      await greedy.stop();
      await node.stop();
    }
  });
});

describe('frames in flight', () => {
  it('are at most the window until acks come, then the rest follow', async () => {
    const window = 50;
    let holdAcks = true;
    const held: (() => void)[] = [];
    // b's frames to a wait while acks are held: a hears no ack.
    const network = new MemoryNetwork((from, _to, arrive) => (holdAcks && from === 'b' ? held.push(arrive) : setImmediate(arrive)));
    const a = await startNode({ dir: dirs.make('ken-a-'), transport: { kind: 'memory', network, peerId: 'a' }, session: { windowFrames: window } });
    const b = await startNode({ dir: dirs.make('ken-b-'), transport: { kind: 'memory', network, peerId: 'b' } });
    await a.node.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    await b.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    holdAcks = false;
    const remote = await a.node.redeemUrl(await b.node.issueUrl(b.node.kernel.rootOf('recorder')));
    const base = a.node.store.peers.get('b')?.nextSendSeq ?? 1;
    holdAcks = true;
    const highestSent = () =>
      Math.max(
        0,
        ...network.wire
          .filter((record) => record.from === 'a')
          .map((record) => (JSON.parse(new TextDecoder().decode(record.frame)) as { seq?: number }).seq ?? 0),
      );
    await a.node.kernel.call(a.node.kernel.rootOf('sender'), 'sendBatch', [remote, 200, 200]);
    await eventually('the outbox to hold the 200', () => a.node.sessions.outboxDepth('b') >= 200);
    await eventually('the window to be sent', () => highestSent() === base - 1 + window);
    // Resends come (the timer fires while acks are held), but nothing past the window.
    const retransmits = a.node.sessions.stats.retransmits;
    await eventually('a resend', () => a.node.sessions.stats.retransmits > retransmits, 20_000);
    // Frames arrive one turn after they are sent.
    await new Promise((resolve) => setImmediate(resolve));
    expect(highestSent()).toBe(base - 1 + window);
    expect(a.node.sessions.outboxDepth('b')).toBeGreaterThanOrEqual(200);

    holdAcks = false;
    for (const arrive of held.splice(0)) arrive();
    await eventually('all 200 consumed', async () => (await b.node.kernel.call(b.node.kernel.rootOf('recorder'), 'count')) === 200, 30_000);
    expect(highestSent()).toBeGreaterThanOrEqual(base - 1 + 200);
    await a.node.stop();
    await b.node.stop();
  });
});
