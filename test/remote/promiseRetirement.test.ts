import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import type { KenNode } from '../../src/node/node.js';
import { parseOcapUrl } from '../../src/remote/ocapUrl.js';
import type { KernelStore, KPromiseRef, RemoteId } from '../../src/store/index.js';
import { testVat } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';
import { RawPeer } from '../support/rawPeer.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const smallcaps = (value: unknown) => ({ body: `#${JSON.stringify(value)}`, slots: [] as string[] });

/** What `store` holds for the peer at `endpoint`: its c-list entries, its refs still retiring, and kernel promises in all. */
function heldFor(store: KernelStore, endpoint: RemoteId) {
  return {
    clist: store.clist.entriesOf(endpoint).length,
    retiring: store.retiringRefs.count(endpoint),
    promises: (store.dump().kernel_promises ?? []).length,
  };
}

/** Node A with a `peer` vat, and a raw peer P that holds its acks (its messages, or the test, say what it consumed). */
async function nodeAndRawPeer(dir: string) {
  const network = new MemoryNetwork();
  const { node } = await startNode({ dir, transport: { kind: 'memory', network, peerId: 'A' } });
  await node.kernel.createVat({ name: 'peer', bundle: await testVat('peer') });
  const { swiss } = parseOcapUrl(await node.issueUrl(node.kernel.rootOf('peer')));
  const peer = new RawPeer(network.transport('P'), 'A', node.store.meta.incarnation());
  peer.holdingAcks = true;
  return { network, node, peer, swiss };
}

const endpointOfP = (node: KenNode) => node.store.peers.get('P')!.endpoint;
/** The kernel promise of P's ref `ref` (`p+N`) while it retires at A. */
const retiringPromiseOf = (node: KenNode, ref: string) => node.store.retiringRefs.byEref(endpointOfP(node), `p-${ref.slice(2)}`);

/** P redeems A's URL (A's notify, its message 1, resolves p+1 to A's root) and asks the root for a counter (message 2), having consumed nothing yet. */
async function redeemAndMakeCounter(node: KenNode, peer: RawPeer, swiss: string): Promise<void> {
  await peer.send({ kind: 'redeem', swiss, result: 'p+1', seen: 0 });
  await peer.answer('p+1');
  await peer.send({ kind: 'deliver', target: 'o-1', methargs: smallcaps(['makeCounter', ['x']]), result: 'p+2', seen: 0 });
  expect((await peer.answer('p+2')).rejected).toBe(false);
  await node.kernel.run();
}

describe('promise retirement across peers (docs/protocol.md, "Promise retirement")', () => {
  it('keeps no promise or c-list row per message answered: the notifier retires the ref at the peer\'s next message or ack, the notified side at once', async () => {
    const network = new MemoryNetwork();
    const nodes = [];
    for (const name of ['A', 'B']) {
      const { node } = await startNode({ dir: dirs.make(`ken-${name}-`), transport: { kind: 'memory', network, peerId: name } });
      await node.kernel.createVat({ name: 'peer', bundle: await testVat('peer') });
      nodes.push(node);
    }
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const remoteB = await a.redeemUrl(await b.issueUrl(b.kernel.rootOf('peer')));
    const rootA = a.kernel.rootOf('peer');
    const endpointOf = (node: typeof a, peerId: string) => node.store.peers.get(peerId)!.endpoint;
    await a.kernel.call(rootA, 'call', [remoteB, 'echo', 0]);
    // B retires the ref of each answer once a message of A's says A had consumed it, or A's ack of it once B has consumed all A sent: the last answer's goes with A's ack.
    await eventually('the first answer retired', () => b.store.retiringRefs.count(endpointOf(b, 'A')) === 0);
    const before = { a: heldFor(a.store, endpointOf(a, 'B')), b: heldFor(b.store, endpointOf(b, 'A')) };

    for (let round = 1; round <= 40; round += 1) expect(await a.kernel.call(rootA, 'call', [remoteB, 'echo', round])).toBe(round);

    // Each call left a result promise on both nodes, and its c-list entries, before retirement: none of them is left once A has gone quiet.
    await eventually('every answer retired', () => b.store.retiringRefs.count(endpointOf(b, 'A')) === 0);
    await b.kernel.run();
    const after = { a: heldFor(a.store, endpointOf(a, 'B')), b: heldFor(b.store, endpointOf(b, 'A')) };
    expect(after).toEqual(before);
    for (const node of nodes) await node.stop();
  });

  it('translates a ref the peer names before it consumed the notify (across a restart), refuses it after, and refuses a peer that says it consumed more than was sent', async () => {
    const dir = dirs.make('ken-A-');
    // P's acks would retire what it consumed (the next test): here its messages say.
    const start = await nodeAndRawPeer(dir);
    const { network, peer } = start;
    let { node } = start;
    const endpoint = () => endpointOfP(node);
    const promiseOfRef = (ref: string) => retiringPromiseOf(node, ref);
    await redeemAndMakeCounter(node, peer, start.swiss);
    const rootPromise = promiseOfRef('p+1') as KPromiseRef;
    const counterPromise = promiseOfRef('p+2') as KPromiseRef;
    expect([rootPromise, counterPromise]).toEqual([expect.stringMatching(/^kp/), expect.stringMatching(/^kp/)]);
    // Out of the c-list: A would name the promises to P anew.
    expect(node.store.clist.byKref(endpoint(), counterPromise)).toBeUndefined();
    expect(node.store.retiringRefs.count(endpoint())).toBe(2);

    // A restarts: its retiring refs are read back from its store.
    await node.stop();
    ({ node } = await startNode({ dir, transport: { kind: 'memory', network, peerId: 'A' } }));
    expect(node.store.retiringRefs.count(endpoint())).toBe(2);

    // Made before P consumed the notify of p+1 (seen 0): a send to p+1 reaches what it resolved to (the root, durable).
    await peer.send({ kind: 'deliver', target: 'p+1', methargs: smallcaps(['echo', ['piped']]), result: 'p+3', seen: 0 });
    expect(await peer.answer('p+3')).toMatchObject({ rejected: false, body: '#"piped"' });
    await node.kernel.run();

    // Made after it consumed A's messages up to 3 (the answer to p+3): the refs A notified up to there retire, and their promises go.
    await peer.send({ kind: 'deliver', target: 'o-1', methargs: smallcaps(['echo', ['hi']]), result: 'p+4', seen: 3 });
    await peer.answer('p+4');
    await node.kernel.run();
    expect([promiseOfRef('p+1'), promiseOfRef('p+2'), promiseOfRef('p+3')]).toEqual([undefined, undefined, undefined]);
    expect(node.store.promises.get(counterPromise)).toBeUndefined();
    expect(node.store.retiringRefs.count(endpoint())).toBe(1);

    // Naming p+2 now is naming what P was never given (an honest peer names a promise anew once it has consumed its notify).
    await peer.send({ kind: 'deliver', target: 'p+2', methargs: smallcaps(['increment', []]), result: 'p+5' });
    expect(await peer.answer('p+5')).toMatchObject({ rejected: true, body: expect.stringContaining('target p+2 names nothing this node gave the peer') });

    // A peer that says it consumed more than A sent breaks the protocol: its frame is refused and its connection closed.
    const badFrames = node.sessions.stats.badFrames;
    await peer.send({ kind: 'deliver', target: 'o-1', methargs: smallcaps(['echo', ['late']]), result: 'p+6', seen: 99 });
    await eventually('the frame refused', () => node.sessions.stats.badFrames === badFrames + 1);
    expect(node.store.peers.get('P')!.receivedSeq).toBe(5);
    await node.stop();
  });
  it('retires the refs a peer acked once every message it made before the ack is consumed, so a peer that falls silent leaves none', async () => {
    const { node, peer, swiss } = await nodeAndRawPeer(dirs.make('ken-A-'));
    const endpoint = () => endpointOfP(node);
    const promiseOfRef = (ref: string) => retiringPromiseOf(node, ref);
    // A answers both (its messages 1 and 2), and their refs retire.
    await redeemAndMakeCounter(node, peer, swiss);
    const promises = [promiseOfRef('p+1'), promiseOfRef('p+2')] as KPromiseRef[];
    expect(node.store.retiringRefs.count(endpoint())).toBe(2);

    // P acks both, saying it had made a third message before: not consumed yet, it may name p+1 or p+2, so they stay.
    await peer.ack(3);
    await eventually('the ack applied', () => node.store.peers.get('P')!.ackedSeq === 2);
    await node.kernel.run();
    expect(node.store.retiringRefs.count(endpoint())).toBe(2);

    // That message comes (made before P consumed anything): a send to p+1 still reaches the root.
    await peer.send({ kind: 'deliver', target: 'p+1', methargs: smallcaps(['echo', ['piped']]), result: 'p+3', seen: 0 });
    expect(await peer.answer('p+3')).toMatchObject({ rejected: false, body: '#"piped"' });
    await node.kernel.run();
    expect(node.store.retiringRefs.count(endpoint())).toBe(3);

    // P acks everything and sends nothing more: every ref A notified it of retires, and the promises no one else holds go.
    await peer.ack();
    await eventually('every ref retired', () => node.store.retiringRefs.count(endpoint()) === 0);
    await node.kernel.run();
    for (const kpid of promises) expect(node.store.promises.get(kpid)).toBeUndefined();
    expect(node.store.clist.entriesOf(endpoint()).filter((entry) => entry.kref.startsWith('kp'))).toEqual([]);
    await node.stop();
  });
  it('judges a message\'s seen only once the peer\'s hello in this process named this node: before, the node\'s own rollback may explain a seen beyond what it sent', async () => {
    const network = new MemoryNetwork();
    const { node } = await startNode({ dir: dirs.make('ken-A-'), transport: { kind: 'memory', network, peerId: 'A' } });
    await node.kernel.createVat({ name: 'peer', bundle: await testVat('peer') });
    const { swiss } = parseOcapUrl(await node.issueUrl(node.kernel.rootOf('peer')));
    // A first contact: its hello names no incarnation of A's, so A cannot judge what it says of A's messages (its acks do not count either).
    const peer = new RawPeer(network.transport('P'), 'A', null);
    peer.holdingAcks = true;
    await peer.send({ kind: 'redeem', swiss, result: 'p+1', seen: 3 });
    expect((await peer.answer('p+1', 5_000)).rejected).toBe(false);
    // Nor does a seen retire anything: A's answer (its message 1) stays the peer's to name.
    await peer.send({ kind: 'deliver', target: 'o-1', methargs: smallcaps(['echo', ['hi']]), result: 'p+2', seen: 1 });
    expect(await peer.answer('p+2', 5_000)).toMatchObject({ rejected: false, body: '#"hi"' });
    await node.kernel.run();
    expect(node.sessions.stats.badFrames).toBe(0);
    expect(node.store.retiringRefs.count(endpointOfP(node))).toBe(2);
    await node.stop();
  });
});
