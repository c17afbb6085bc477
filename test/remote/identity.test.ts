import { generateKeyPair } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { afterEach, describe, expect, it } from 'vitest';
import { Libp2pTransport } from '../../src/net/libp2pTransport.js';
import type { KenNode } from '../../src/node/node.js';
import { encodeFrame, type Frame } from '../../src/remote/frames.js';
import { pairTagOf } from '../../src/remote/pairTag.js';
import type { KernelStore } from '../../src/store/index.js';
import { recordingLogger, testVat, type LogEntry } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const listen = ['/ip4/127.0.0.1/tcp/0'];
const echo = (value: string) => ({ body: `#["echo",[${JSON.stringify(value)}]]`, slots: [] });
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** A node with a `peer` vat (test/vats/peer.js) and an ocap URL for its root. */
async function nodeWithPeerVat(prefix: string, allowPeers?: string[]) {
  const started = await startNode({ dir: dirs.make(prefix), transport: { kind: 'libp2p', listen, allowPeers } });
  await started.node.kernel.createVat({ name: 'peer', bundle: await testVat('peer') });
  return { ...started, url: await started.node.issueUrl(started.node.kernel.rootOf('peer')) };
}

/**
 * A bare libp2p endpoint with a key of its own (or `privateKey`), speaking
 * ken frames: the first frame on each stream it opens is `hello`. It counts
 * what reaches it.
 */
async function impostor(hello: () => Frame, privateKey?: PrivateKey) {
  const transport = await Libp2pTransport.start({
    privateKey: privateKey ?? (await generateKeyPair('Ed25519')),
    listen,
    maxFrameBytes: 1024 * 1024,
    logger: recordingLogger(),
  });
  const reached = { frames: 0, connections: 0 };
  transport.setHandlers({
    frame: () => void (reached.frames += 1),
    helloFrame: () => encodeFrame(hello()),
    connected: () => void (reached.connections += 1),
    disconnected: () => {},
  });
  return { transport, reached };
}

/** The store's tables without the rows that are about `peerId` (its peer record, and the counter its endpoint took). */
function withoutPeer(store: KernelStore, peerId: string) {
  const dump = store.dump();
  return {
    ...dump,
    peers: dump.peers!.filter((row) => (row as { peer_id: string }).peer_id !== peerId),
    kernel_meta: dump.kernel_meta!.filter((row) => (row as { key: string }).key !== 'next.remote'),
  };
}

const refusalsOf = (entries: LogEntry[], peerId: string) =>
  entries.filter((entry) => entry.message?.startsWith('bad frame') && (entry.object as { peerId?: string }).peerId === peerId);

/** Waits until `node` has nothing left to send or to consume. */
async function settled(node: KenNode, peerId: string): Promise<void> {
  await eventually('the outbox drained', () => node.sessions.outboxDepth(peerId) === 0);
  await node.kernel.run();
}

/** A (with `allowPeers` if given) and B, which redeemed A's URL and called it once; both idle. */
async function talkingPair(allowB = false) {
  const b = await startNode({ dir: dirs.make('ken-B-'), transport: { kind: 'libp2p', listen } });
  const a = await nodeWithPeerVat('ken-A-', allowB ? [b.node.peerId] : undefined);
  const rootOfA = await b.node.redeemUrl(a.url);
  expect(await b.node.kernel.call(rootOfA, 'echo', ['before'])).toBe('before');
  await settled(a.node, b.node.peerId);
  await settled(b.node, a.node.peerId);
  return { a, b, rootOfA };
}

describe('identity: a peer is the Noise-authenticated peer id of its connection', () => {
  it('an impostor that knows B\'s incarnation and sequence numbers but not its key is treated as itself; B\'s state at A does not change', async () => {
    const { a, b, rootOfA } = await talkingPair();
    const stateOfB = a.node.store.peers.get(b.node.peerId)!;
    expect(stateOfB.receivedSeq).toBeGreaterThan(0);

    // C claims B's incarnation and speaks as B would next: B's next seq, to the object B names o-1.
    const c = await impostor(() => ({
      type: 'hello',
      incarnation: b.node.store.meta.incarnation(),
      yourIncarnation: a.node.store.meta.incarnation(),
      receivedSeq: 0, receivedDigest: null,
      window: 1000,
      sentSeq: 0,
      ackedSeq: 0,
      addresses: [],
      startedOver: null,
    }));
    const cId = c.transport.peerId;
    const before = withoutPeer(a.node.store, cId);
    await c.transport.addPeerAddresses(a.node.peerId, a.node.transport.addresses());
    // The pair tag B's frames carry (no secret: both incarnations are in hellos).
    const pairOfB = pairTagOf(b.node.store.meta.incarnation(), a.node.store.meta.incarnation());
    const asB = (seq: number) => ({ type: 'msg', seq, ack: 0, window: 1000, pair: pairOfB, body: { kind: 'deliver', target: 'o-1', methargs: echo('from C'), result: null, seen: 0 } });

    // B's next seq is, for C's own record, a gap: dropped.
    const gaps = a.node.sessions.stats.gapsDropped;
    await c.transport.send(a.node.peerId, [bytes(asB(stateOfB.receivedSeq + 1))]);
    await eventually('the gap is dropped', () => a.node.sessions.stats.gapsDropped > gaps);
    expect(a.node.store.peers.get(cId)).toMatchObject({ incarnation: b.node.store.meta.incarnation(), receivedSeq: 0 });
    // C's first seq names an object C was never given (B was): the message is refused (consumed, nothing of it applied).
    await c.transport.send(a.node.peerId, [bytes(asB(1))]);
    await eventually('the forged target is refused', () => a.node.sessions.refusalsOf(cId) === 1);
    const refusal = a.logger.entries.find((entry) => entry.message?.startsWith('refused a message') && (entry.object as { peerId?: string }).peerId === cId);
    expect(JSON.stringify(refusal?.object)).toContain('names nothing this node gave the peer');
    // No frame can say who sent it: a field claiming B is refused by the schema.
    await c.transport.send(a.node.peerId, [bytes({ ...asB(2), from: b.node.peerId })]).catch(() => {});
    await eventually('the sender claim is refused', () => refusalsOf(a.logger.entries, cId).length === 1);
    expect(JSON.stringify(refusalsOf(a.logger.entries, cId)[0]?.object)).toContain('invalid frame at (root)');

    await a.node.kernel.run();
    expect(withoutPeer(a.node.store, cId)).toEqual(before);
    expect(await a.node.kernel.call(a.node.kernel.rootOf('peer'), 'calls')).toBe(1);
    // B's session is undisturbed.
    expect(await b.node.kernel.call(rootOfA, 'echo', ['after'])).toBe('after');
    await c.transport.stop();
    await b.node.stop();
    await a.node.stop();
  });

  it('an impostor that presents B\'s peer id without B\'s private key fails the Noise handshake, and nothing changes', async () => {
    const { a, b, rootOfA } = await talkingPair();
    const before = a.node.store.dump();
    const framesBefore = a.node.sessions.stats.framesReceived;

    // C's key, dressed in B's public key: libp2p takes it to be B, and Noise sends B's id, signed with C's key.
    const ownKey = await generateKeyPair('Ed25519');
    const publicKeyOfB = peerIdFromString(b.node.peerId).publicKey!;
    const forged = Object.create(ownKey, { publicKey: { value: publicKeyOfB } }) as PrivateKey;
    const c = await impostor(() => ({ type: 'hello', incarnation: b.node.store.meta.incarnation(), yourIncarnation: null, receivedSeq: 0, receivedDigest: null, window: 1000, sentSeq: 0, ackedSeq: 0, addresses: [], startedOver: null }), forged);
    expect(c.transport.peerId).toBe(b.node.peerId);
    await c.transport.addPeerAddresses(a.node.peerId, a.node.transport.addresses());
    // A checks the signature with B's public key and drops the connection ("Invalid payload signature", in libp2p's log).
    await expect(c.transport.send(a.node.peerId, [bytes({ type: 'ack', ack: 0, window: 1000 })])).rejects.toThrow();

    await a.node.kernel.run();
    expect(a.node.sessions.stats.framesReceived).toBe(framesBefore);
    expect(a.node.store.dump()).toEqual(before);
    expect(await b.node.kernel.call(rootOfA, 'echo', ['after'])).toBe('after');
    await c.transport.stop();
    await b.node.stop();
    await a.node.stop();
  });

  it('a URL that puts B\'s peer id at an impostor\'s address never reaches the impostor', async () => {
    const a = await startNode({ dir: dirs.make('ken-A-'), transport: { kind: 'libp2p', listen } });
    const c = await impostor(() => ({ type: 'hello', incarnation: 'ab'.repeat(16), yourIncarnation: null, receivedSeq: 0, receivedDigest: null, window: 1000, sentSeq: 0, ackedSeq: 0, addresses: [], startedOver: null }));
    const [addressOfC] = c.transport.addresses();
    const bare = addressOfC!.replace(/\/p2p\/.*$/, '');
    // With C's address bare, A dials it expecting B's key; with C's id in it, A has no address for B at all.
    for (const address of [bare, addressOfC!]) {
      const bId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
      const failures = () =>
        a.logger.entries.filter((entry) => entry.message === 'send failed; will resend' && (entry.object as { peerId?: string }).peerId === bId);
      const failed = failures().length;
      void a.node.redeemUrl(`ocap:${'cd'.repeat(16)}@${bId},${address}`).catch(() => {});
      await eventually(`A fails to reach B at ${address}`, () => failures().length > failed);
      const reason = String((failures().at(-1)?.object as { err?: unknown }).err);
      // Noise: the key C proves is not B's.
      const expected = address === bare ? `identity key ${c.transport.peerId} does not match expected remote identity key ${bId}` : 'no valid addresses';
      expect(reason).toContain(expected);
    }
    expect(c.reached).toEqual({ frames: 0, connections: 0 });
    await c.transport.stop();
    await a.node.stop();
  });
});

describe('identity: allowPeers', () => {
  it('refuses a connection from a peer not in the list before any frame is read, logs it, and changes nothing', async () => {
    const { a, b, rootOfA } = await talkingPair(true);
    const before = a.node.store.dump();
    const framesBefore = a.node.sessions.stats.framesReceived;

    const c = await impostor(() => ({ type: 'hello', incarnation: 'ef'.repeat(16), yourIncarnation: null, receivedSeq: 0, receivedDigest: null, window: 1000, sentSeq: 0, ackedSeq: 0, addresses: [], startedOver: null }));
    await c.transport.addPeerAddresses(a.node.peerId, a.node.transport.addresses());
    const sent = await c.transport.send(a.node.peerId, [bytes({ type: 'ack', ack: 0, window: 1000 })]).then(
      () => 'sent',
      () => 'refused',
    );
    const refusal = () =>
      a.logger.entries.find((entry) => entry.message === 'refused a connection: the peer is not in allowPeers');
    await eventually('A refuses C', () => refusal() !== undefined);
    expect(refusal()?.object).toEqual({ peerId: c.transport.peerId, direction: 'inbound' });
    expect(sent).toBe('refused');
    await a.node.kernel.run();
    expect(a.node.sessions.stats.framesReceived).toBe(framesBefore);
    expect(a.node.store.dump()).toEqual(before);

    // Nor does A connect out to it: redeeming its URL fails at once, and nothing of it is kept.
    const urlOfC = `ocap:${'12'.repeat(16)}@${c.transport.peerId},${c.transport.addresses()[0]}`;
    await expect(a.node.redeemUrl(urlOfC)).rejects.toThrow(`peer ${c.transport.peerId} is not in allowPeers`);
    expect(a.node.store.peers.get(c.transport.peerId)).toBeUndefined();
    expect(c.reached).toEqual({ frames: 0, connections: 0 });
    // The listed peer still gets through.
    expect(await b.node.kernel.call(rootOfA, 'echo', ['still'])).toBe('still');
    await c.transport.stop();
    await b.node.stop();
    await a.node.stop();
  });
});

describe('identity: the dial addresses a hello announces', () => {
  it('are kept for the peer that sent them, so a node can reach a peer that only ever dialled in', async () => {
    const { a, b } = await talkingPair();
    // A never had B's URL or address: B dialled A. B's hello named where B listens.
    expect(a.node.store.peers.get(b.node.peerId)?.addresses).toEqual(expect.arrayContaining(b.node.transport.addresses()));
    await b.node.stop();
    await a.node.stop();
  });

  it('naming another peer\'s address, close the connection and are not kept', async () => {
    const { a, b } = await talkingPair();
    const [addressOfB] = b.node.transport.addresses();
    const c = await impostor(() => ({ type: 'hello', incarnation: 'ab'.repeat(16), yourIncarnation: null, receivedSeq: 0, receivedDigest: null, window: 1000, sentSeq: 0, ackedSeq: 0, addresses: [addressOfB!], startedOver: null }));
    await c.transport.addPeerAddresses(a.node.peerId, a.node.transport.addresses());
    await c.transport.send(a.node.peerId, [bytes({ type: 'ack', ack: 0, window: 1000 })]).catch(() => {});
    await eventually('A refuses C\'s hello', () => refusalsOf(a.logger.entries, c.transport.peerId).length > 0);
    expect((refusalsOf(a.logger.entries, c.transport.peerId)[0]?.object as { reason: string }).reason).toContain('which is another peer\'s');
    expect(a.node.store.peers.get(c.transport.peerId)).toBeUndefined();
    await c.transport.stop();
    await b.node.stop();
    await a.node.stop();
  });
});
