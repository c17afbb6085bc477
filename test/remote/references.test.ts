import path from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { encodeFrame } from '../../src/remote/frames.js';
import { parseOcapUrl } from '../../src/remote/ocapUrl.js';
import { pairTagOf } from '../../src/remote/pairTag.js';
import { openStore } from '../../src/store/index.js';
import { seededEntropy, seededRandom, testSeed } from '../../src/util/random.js';
import { testVat } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const data = (body: string, slots: string[] = []) => ({ body: `#${body}`, slots });
/** Evil's incarnation: its hello names it, and A's, so its frames carry the pair tag of both. */
const evilIncarnation = 'ab'.repeat(16);

/**
 * Node A with a `peer` vat, and `evil`, a peer on the same in-memory network
 * that sends raw frames. Evil has redeemed A's URL (A's root is `o-1` to it)
 * and asked the root to `hold()`, so A's vat decides evil's `p+2`: evil has
 * legitimately been given one object and one promise it does not decide.
 */
async function nodeAndEvilPeer() {
  const network = new MemoryNetwork();
  const { node, logger } = await startNode({ dir: dirs.make('ken-A-'), transport: { kind: 'memory', network, peerId: 'A' } });
  await node.kernel.createVat({ name: 'peer', bundle: await testVat('peer') });
  const { swiss } = parseOcapUrl(await node.issueUrl(node.kernel.rootOf('peer')));
  const evil = network.transport('evil');
  const seen = { disconnects: 0 };
  const pair = pairTagOf(evilIncarnation, node.store.meta.incarnation());
  const msg = (seq: number, body: unknown) => ({ type: 'msg', seq, ack: 0, window: 1000, pair, body: { ...(body as object), seen: 0 } });
  // What evil has sent, as far as A consumed it: its hellos tell the truth there, or A would take it for a rolled-back peer.
  const sentByEvil = () => node.store.peers.get('evil')?.receivedSeq ?? 0;
  evil.setHandlers({
    frame: () => {},
    // Naming A's incarnation makes evil's acks count: a forged one is then refused, not ignored.
    helloFrame: () => encodeFrame({ type: 'hello', incarnation: evilIncarnation, yourIncarnation: node.store.meta.incarnation(), receivedSeq: 0, receivedDigest: null, window: 1000, sentSeq: sentByEvil(), ackedSeq: 0, addresses: [], startedOver: null }),
    connected: () => {},
    disconnected: () => void (seen.disconnects += 1),
  });
  const consumed = async (seq: number) => {
    await eventually(`A consumed evil's ${seq}`, () => node.store.peers.get('evil')?.receivedSeq === seq);
    await node.kernel.run();
  };
  await evil.send('A', [bytes(msg(1, { kind: 'redeem', swiss, result: 'p+1' }))]);
  await evil.send('A', [bytes(msg(2, { kind: 'deliver', target: 'o-1', methargs: data('["hold",[]]'), result: 'p+2' }))]);
  await consumed(2);
  return { node, logger, evil, seen, consumed, msg, pair };
}

describe('references: a peer uses only what it was given', () => {
  it('refuses a message naming refs it was never given or promises it does not decide alone: consumed, its result rejected with the reason, the connection kept', async () => {
    const { node, logger, evil, seen, consumed, msg } = await nodeAndEvilPeer();
    const vatTables = (dump: Record<string, unknown[]>) => ({ vatstore: dump.vatstore, kernel_objects: dump.kernel_objects, run_queue: dump.run_queue });
    const before = vatTables(node.store.dump());
    const echoOf = (slot: string) => data('["echo",["$0.Alleged: x"]]', [slot]);
    const echo = { kind: 'deliver', target: 'o-1', methargs: data('["echo",[]]'), result: null };
    // [reason, body, the result whose rejection evil must get (none if it named no usable one)]
    const attacks: [string, unknown, string | null][] = [
      ['methargs: slot o-77 names nothing this node gave the peer', { ...echo, methargs: echoOf('o-77'), result: 'p+10' }, 'p+10'],
      ['methargs: slot p-9 names nothing this node gave the peer', { ...echo, methargs: data('["echo",["&0"]]', ['p-9']), result: 'p+11' }, 'p+11'],
      ['target p-5 names nothing this node gave the peer', { ...echo, target: 'p-5', result: 'p+12' }, 'p+12'],
      ['result p+2 is already in use', { ...echo, result: 'p+2' }, null],
      ['result p-3 is not a new promise of the peer', { ...echo, result: 'p-3' }, null],
      ['peer resolved p+2, which it does not decide', { kind: 'notify', resolutions: [['p+2', false, data('"forged"')]] }, null],
      ['peer resolved o-1, which it does not decide', { kind: 'notify', resolutions: [['o-1', false, data('"forged"')]] }, null],
      ['peer resolved p-4, which it does not decide', { kind: 'notify', resolutions: [['p-4', true, data('"forged"')]] }, null],
    ];
    let seq = 2;
    for (const [reason, body, result] of attacks) {
      const refusals = node.sessions.refusalsOf('evil');
      seq += 1;
      await evil.send('A', [bytes(msg(seq, body))]);
      await consumed(seq);
      expect(node.sessions.refusalsOf('evil'), reason).toBe(refusals + 1);
      if (result === null) continue;
      const answer = node.store.outbox
        .read('evil', 1, Number.MAX_SAFE_INTEGER, 1000)
        .map((row) => JSON.parse(row.frame) as { kind: string; resolutions?: [string, boolean, { body: string }][] })
        .find((row) => row.kind === 'notify' && row.resolutions?.[0]?.[0] === `p-${result.slice(2)}`);
      expect(answer?.resolutions?.[0]?.[1], reason).toBe(true);
      expect(answer?.resolutions?.[0]?.[2].body).toContain(`message refused by the receiving node: ${reason}`);
    }
    expect(seen.disconnects).toBe(0);
    // The vat saw none of it, and nothing of it is left in kernel tables.
    expect(vatTables(node.store.dump())).toEqual(before);
    expect(node.store.promises.decidedBy('v1')).toHaveLength(1);
    expect(await node.kernel.call(node.kernel.rootOf('peer'), 'calls')).toBe(0);
    // One warning for the run (the peer cannot fill the log), naming the first reason and counting the rest later.
    const warnings = logger.entries.filter((entry) => entry.message?.startsWith('refused a message from peer'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.object).toMatchObject({ peerId: 'evil', reason: attacks[0]![0] });
    await node.stop();
  });

  it('closes the connection on an ack of what it never sent, alone or riding on a message, and changes nothing', async () => {
    const { node, logger, evil, seen, msg, pair } = await nodeAndEvilPeer();
    const before = node.store.dump();
    const sent = node.store.peers.get('evil')!.nextSendSeq - 1;
    const echo = { kind: 'deliver', target: 'o-1', methargs: data('["echo",[]]'), result: null };
    const attacks: unknown[] = [{ type: 'ack', ack: 99, window: 1000, pair, sent: 0 }, { ...msg(3, echo), ack: 99 }];
    for (const frame of attacks) {
      const badFrames = node.sessions.stats.badFrames;
      const disconnects = seen.disconnects;
      await evil.send('A', [bytes(frame)]);
      await eventually('the refusal', () => node.sessions.stats.badFrames > badFrames && seen.disconnects > disconnects);
      await node.kernel.run();
      expect(node.store.dump()).toEqual(before);
    }
    const warnings = logger.entries.filter((entry) => entry.message === 'bad frame from peer: closed its connection');
    expect(warnings[0]?.object).toMatchObject({ peerId: 'evil', reason: `peer acked 99, but only ${sent} were sent`, badFrames: 1 });
    await node.stop();
  });

  it('rejects ocap URLs guessed at random, and grants nothing', async () => {
    const seed = testSeed();
    console.log(`references seed ${seed} (replay: KEN_SEED=${seed} npx vitest run test/remote/references.test.ts)`);
    const guess = seededEntropy(seededRandom(seed));
    const { node, evil, consumed, msg } = await nodeAndEvilPeer();
    const before = node.store.dump();
    const guesses = 20;
    const frames = Array.from({ length: guesses }, (_, i) => bytes(msg(3 + i, { kind: 'redeem', swiss: guess(16), result: `p+${10 + i}` })));
    await evil.send('A', frames);
    await consumed(2 + guesses);

    const after = node.store.dump();
    // No object was exported, pinned or named by a new URL; the vats saw nothing.
    for (const table of ['kernel_objects', 'ocap_urls', 'vatstore', 'run_queue']) expect(after[table], table).toEqual(before[table]);
    const exportsToEvil = (dump: typeof after) => dump.clist!.filter((row) => (row as { eref: string }).eref.startsWith('o+'));
    expect(exportsToEvil(after)).toEqual(exportsToEvil(before));
    // Each guess's result was rejected, with no ref in the answer.
    const answers = node.store.outbox
      .read('evil', 1, Number.MAX_SAFE_INTEGER, 1000)
      .map((row) => JSON.parse(row.frame) as { kind: string; resolutions?: [string, boolean, { body: string; slots: string[] }][] })
      .filter((body) => body.kind === 'notify' && Number(body.resolutions?.[0]?.[0].slice(2)) >= 10);
    expect(answers).toHaveLength(guesses);
    for (const answer of answers) {
      const [, rejected, settlement] = answer.resolutions![0]!;
      expect(rejected).toBe(true);
      expect(settlement.body).toContain('unknown ocap URL');
      expect(settlement.slots).toEqual([]);
    }
    await node.stop();
  });
});

describe('references: ocap URLs the transport cannot use', () => {
  it('are rejected at redeem, and nothing of them is stored', async () => {
    const { node } = await startNode({ dir: dirs.make('ken-A-'), transport: { kind: 'libp2p', listen: ['/ip4/127.0.0.1/tcp/0'] } });
    const swiss = 'ef'.repeat(16);
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();
    const asCid = peerIdFromString(peer).toCID().toString();
    await expect(node.redeemUrl(`ocap:${swiss}@notapeer,/ip4/127.0.0.1/tcp/1`)).rejects.toThrow('"notapeer" is not a libp2p peer id');
    await expect(node.redeemUrl(`ocap:${swiss}@${peer},/not/a/multiaddr`)).rejects.toThrow('"/not/a/multiaddr" is not a multiaddr');
    await expect(node.redeemUrl(`ocap:${swiss}@${asCid}`)).rejects.toThrow(`is not in its usual form (${peer})`);
    expect(node.store.peers.all()).toEqual([]);
    expect(node.store.dump().outbox).toEqual([]);
    // A URL of this node itself settles at once, found or not.
    await node.kernel.createVat({ name: 'peer', bundle: await testVat('peer') });
    const own = await node.issueUrl(node.kernel.rootOf('peer'));
    expect(await node.kernel.call(await node.redeemUrl(own), 'echo', ['own'])).toBe('own');
    await expect(node.redeemUrl(`ocap:${swiss}@${node.peerId}`)).rejects.toThrow('unknown ocap URL');
    await node.stop();
  });

  it('a store that already holds a peer id or address the transport cannot use still starts', async () => {
    const dir = dirs.make('ken-A-');
    const store = openStore({ path: path.join(dir, 'kernel.sqlite'), durability: 'process' });
    // As an older ken-node stored a redeemed URL's peer before URLs were checked.
    store.tx.beginCrank();
    store.peers.ensure('notapeer');
    store.peers.addAddresses('notapeer', ['/not/a/multiaddr']);
    store.tx.endCrank();
    store.tx.commit();
    store.close();
    const { node, logger } = await startNode({ dir, transport: { kind: 'libp2p', listen: ['/ip4/127.0.0.1/tcp/0'] } });
    expect(logger.entries.find((entry) => entry.message === 'not dialling a stored peer')?.object).toEqual({
      peerId: 'notapeer',
      reason: '"notapeer" is not a libp2p peer id',
    });
    await node.stop();
  });
});
