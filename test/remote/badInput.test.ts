import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { Libp2pTransport } from '../../src/net/libp2pTransport.js';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { encodeFrame } from '../../src/remote/frames.js';
import { recordingLogger } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const bytes = (text: string) => new TextEncoder().encode(text);
const incarnation = 'ab'.repeat(16);

/** A peer on `network` that says hello (a known peer from then on) and counts the times the node closes on it. */
async function rawPeer(network: MemoryNetwork, name: string, node: { store: { peers: { get(id: string): unknown } } }) {
  const transport = network.transport(name);
  const seen = { disconnects: 0 };
  transport.setHandlers({
    frame: () => {},
    helloFrame: () => encodeFrame({ type: 'hello', incarnation, yourIncarnation: null, receivedSeq: 0, receivedDigest: null, window: 1000, sentSeq: 0, ackedSeq: 0, addresses: [], startedOver: null }),
    connected: () => {},
    disconnected: () => void (seen.disconnects += 1),
  });
  await transport.send('A', []);
  await eventually(`A knows ${name}`, () => node.store.peers.get(name) !== undefined);
  return { transport, seen };
}

const attacks: [string, Uint8Array][] = [
  ['not UTF-8 JSON', bytes('{"type":"msg",')],
  ['not UTF-8 JSON', new Uint8Array([0xff, 0xfe, 0x00])],
  ['invalid frame at seq', bytes(JSON.stringify({ type: 'msg', seq: 0, ack: 0, window: 1000, pair: '0'.repeat(16), body: { kind: 'notify', resolutions: [], seen: 0 } }))],
  ['invalid frame at (root)', bytes(JSON.stringify({ type: 'msg', seq: 1, ack: 0, window: 1000, pair: '0'.repeat(16), body: { kind: 'deliver', target: 'o+1', methargs: { body: '#[]', slots: [] }, result: null, seen: 0 }, extra: 1 }))],
  ['invalid frame at body.target', bytes(JSON.stringify({ type: 'msg', seq: 1, ack: 0, window: 1000, pair: '0'.repeat(16), body: { kind: 'deliver', target: 'ko1', methargs: { body: '#[]', slots: [] }, result: null, seen: 0 } }))],
  ['invalid frame at window', bytes(JSON.stringify({ type: 'ack', ack: 0, pair: '0'.repeat(16) }))],
  ['invalid frame at pair', bytes(JSON.stringify({ type: 'ack', ack: 0, window: 1000, pair: 'not a pair' }))],
];

describe('hostile input from a peer', () => {
  it('refuses malformed frames, closes the connection, logs why, and changes no state', async () => {
    const network = new MemoryNetwork();
    const { node, logger } = await startNode({ dir: dirs.make('ken-A-'), transport: { kind: 'memory', network, peerId: 'A' } });
    // A peer for each attack: the log of one peer is rate-limited (the next test).
    const peers = [];
    for (const [index] of attacks.entries()) peers.push(await rawPeer(network, `evil${index}`, node));
    await node.kernel.run();
    const before = node.store.dump();
    for (const [index, [reason, frame]] of attacks.entries()) {
      const { transport, seen } = peers[index]!;
      await transport.send('A', [frame]);
      await eventually(`refusal of ${reason}`, () => seen.disconnects === 1);
      await eventually(`the line for ${reason}`, () => logger.entries.some((entry) => (entry.object as { peerId?: string }).peerId === `evil${index}`));
      const line = logger.entries.find((entry) => (entry.object as { peerId?: string }).peerId === `evil${index}`);
      expect(line?.message).toBe('bad frame from peer: closed its connection');
      expect(JSON.stringify(line?.object)).toContain(reason);
      await node.kernel.run();
      expect(node.store.dump()).toEqual(before);
    }
    expect(node.sessions.stats.badFrames).toBe(attacks.length);
    await node.stop();
  });

  it('logs one line, not one per frame or per session, for a peer that sends garbage session after session', async () => {
    const network = new MemoryNetwork();
    const { node, logger } = await startNode({ dir: dirs.make('ken-A-'), transport: { kind: 'memory', network, peerId: 'A' } });
    const { transport, seen } = await rawPeer(network, 'evil', node);
    const sessions = 20;
    for (let session = 0; session < sessions; session += 1) {
      // Every frame in flight on the session is refused: counted, not logged one by one.
      await transport.send('A', Array.from({ length: 20 }, () => attacks[session % attacks.length]![1]));
      await eventually(`session ${session} closed`, () => seen.disconnects === session + 1);
    }
    expect(node.sessions.stats.badFrames).toBeGreaterThanOrEqual(sessions);
    const lines = logger.entries.filter((entry) => (entry.object as { peerId?: string }).peerId === 'evil' && entry.level === 'warn');
    expect(lines).toHaveLength(1);
    await node.stop();
  });

  it('closes a libp2p connection that sends a frame over the size cap', async () => {
    const { node, logger } = await startNode({
      dir: dirs.make('ken-A-'),
      transport: { kind: 'libp2p', listen: ['/ip4/127.0.0.1/tcp/0'], maxFrameBytes: 64 * 1024 },
    });
    const evil = await Libp2pTransport.start({
      privateKey: await generateKeyPair('Ed25519'),
      listen: [],
      maxFrameBytes: 4 * 1024 * 1024,
      logger: recordingLogger(),
    });
    evil.setHandlers({
      frame: () => {},
      helloFrame: () => encodeFrame({ type: 'hello', incarnation, yourIncarnation: null, receivedSeq: 0, receivedDigest: null, window: 1000, sentSeq: 0, ackedSeq: 0, addresses: [], startedOver: null }),
      connected: () => {},
      disconnected: () => {},
    });
    await evil.addPeerAddresses(node.peerId, node.transport.addresses());
    const before = node.store.dump();
    await evil.send(node.peerId, [new Uint8Array(200 * 1024).fill(0x20)]).catch(() => {});
    await eventually('the oversized frame is refused', () =>
      logger.entries.some((entry) => entry.message === 'closing connections to peer'),
    );
    // One warning, naming the peer and the length, and the connections closed for that reason.
    const warnings = logger.entries.filter((entry) => entry.message === 'unreadable frame from peer: closing its connections');
    expect(warnings.map((entry) => [entry.level, (entry.object as { peerId?: string }).peerId])).toEqual([['warn', evil.peerId]]);
    expect(JSON.stringify(warnings[0]?.object)).toMatch(/length/i);
    expect(JSON.stringify(logger.entries.find((entry) => entry.message === 'closing connections to peer')?.object)).toMatch(
      /unreadable frame: .*(length|Length)/,
    );
    await node.kernel.run();
    // The hello before it was fine and made the sender a known peer; nothing else changed.
    const after = node.store.dump();
    expect({ ...after, peers: [], kernel_meta: [] }).toEqual({ ...before, peers: [], kernel_meta: [] });
    await evil.stop();
    await node.stop();
  });
});
