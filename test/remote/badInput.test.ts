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

describe('hostile input from a peer', () => {
  it('refuses malformed and forbidden frames, closes the connection, and changes no state', async () => {
    const network = new MemoryNetwork();
    const { node, logger } = await startNode({ dir: dirs.make('ken-A-'), transport: { kind: 'memory', network, peerId: 'A' } });
    const evil = network.transport('evil');
    let disconnects = 0;
    evil.setHandlers({
      frame: () => {},
      helloFrame: () => encodeFrame({ type: 'hello', incarnation, yourIncarnation: null, receivedSeq: 0 }),
      connected: () => {},
      disconnected: () => void (disconnects += 1),
    });
    // A first, well-formed hello makes `evil` a known peer.
    await evil.send('A', []);
    await eventually('A knows evil', () => node.store.peers.get('evil') !== undefined);
    await node.kernel.run();
    const before = node.store.dump();

    const attacks: [string, Uint8Array][] = [
      ['not UTF-8 JSON', bytes('{"type":"msg",')],
      ['not UTF-8 JSON', new Uint8Array([0xff, 0xfe, 0x00])],
      ['invalid frame at seq', bytes(JSON.stringify({ type: 'msg', seq: 0, ack: 0, body: { kind: 'notify', resolutions: [] } }))],
      ['invalid frame at (root)', bytes(JSON.stringify({ type: 'msg', seq: 1, ack: 0, body: { kind: 'deliver', target: 'o+1', methargs: { body: '#[]', slots: [] }, result: null }, extra: 1 }))],
      ['invalid frame at body.target', bytes(JSON.stringify({ type: 'msg', seq: 1, ack: 0, body: { kind: 'deliver', target: 'ko1', methargs: { body: '#[]', slots: [] }, result: null } }))],
      ['names nothing this node gave the peer', bytes(JSON.stringify({ type: 'msg', seq: 1, ack: 0, body: { kind: 'deliver', target: 'o-99', methargs: { body: '#[]', slots: [] }, result: null } }))],
      ['is not a new promise of the peer', bytes(JSON.stringify({ type: 'msg', seq: 1, ack: 0, body: { kind: 'redeem', swiss: 'ab'.repeat(16), result: 'p-3' } }))],
    ];
    for (const [reason, frame] of attacks) {
      const disconnectsBefore = disconnects;
      const refusalsBefore = logger.entries.filter((entry) => entry.message?.startsWith('bad frame')).length;
      await evil.send('A', [frame]);
      await eventually(`refusal of ${reason}`, () =>
        logger.entries.filter((entry) => entry.message?.startsWith('bad frame')).length > refusalsBefore,
      );
      await node.kernel.run();
      const refusal = logger.entries.filter((entry) => entry.message?.startsWith('bad frame')).at(-1);
      expect(JSON.stringify(refusal?.object)).toContain(reason);
      expect(disconnects).toBe(disconnectsBefore + 1);
      expect(node.store.dump()).toEqual(before);
    }
    expect(node.sessions.stats.badFrames).toBe(attacks.length);
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
      helloFrame: () => encodeFrame({ type: 'hello', incarnation, yourIncarnation: null, receivedSeq: 0 }),
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
