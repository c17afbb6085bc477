import path from 'node:path';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultCapDataLimits } from '../../src/kernel/capdataCheck.js';
import { Libp2pTransport } from '../../src/net/libp2pTransport.js';
import { KenNode } from '../../src/node/node.js';
import { flipRef } from '../../src/remote/frames.js';
import { parseOcapUrl } from '../../src/remote/ocapUrl.js';
import { recordingLogger, testVat } from '../support/harness.js';
import { startNode, tempDirs } from '../support/nodes.js';
import { RawPeer } from '../support/rawPeer.js';

const dirs = tempDirs();
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  dirs.cleanup();
});

const listen = ['/ip4/127.0.0.1/tcp/0'];
const smallcaps = (value: unknown) => `#${JSON.stringify(value)}`;

/**
 * The attacks a holder of a node's ocap URL tried, each one message to the
 * URL's object: the four bodies that used to terminate the bootstrap vat
 * (and so disable the node for good), a method that is not a string,
 * slots that do not match the body, slots that name what the peer was
 * never given, slot kinds the body lies about, and arguments past every
 * bound. [what, methargs, what the rejection must say]
 */
const attacks: [string, { body: string; slots: string[] }, RegExp][] = [
  ['a body that is no smallcaps', { body: 'garbage', slots: [] }, /not smallcaps/],
  ['a body cut short', { body: '#["receive",[', slots: [] }, /does not decode/],
  ['a reference with no slot', { body: smallcaps(['echo', ['$0']]), slots: [] }, /beyond the 0 given/],
  ['100,000-deep nesting', { body: `#["echo",[${'['.repeat(100_000)}${']'.repeat(100_000)}]]`, slots: [] }, /nested more than 64 deep/],
  ['a method that is a number', { body: smallcaps([42, []]), slots: [] }, /method name is number/],
  ['a method that is an object', { body: smallcaps([{ toString: 'echo' }, []]), slots: [] }, /method name is object/],
  ['arguments that are no array', { body: smallcaps(['echo', 'x']), slots: [] }, /arguments are not an array/],
  ['a slot the body never names', { body: smallcaps(['echo', []]), slots: ['o+5'] }, /not referenced by the body/],
  ['a slot that names nothing it was given', { body: smallcaps(['echo', ['$0.Alleged: x']]), slots: ['o-77'] }, /slot o-77 names nothing/],
  ['a promise slot the body calls an object', { body: smallcaps(['echo', ['$0.Alleged: x']]), slots: ['p+3'] }, /must return a remotable/],
  ['an object slot the body calls a promise', { body: smallcaps(['echo', ['&0']]), slots: ['o+4'] }, /must return a promise/],
  ['an interface name liveslots refuses', { body: smallcaps(['echo', ['$0.junk']]), slots: ['o+4'] }, /interface name .*junk/],
  [
    'more slots than allowed',
    {
      body: smallcaps(['echo', Array.from({ length: defaultCapDataLimits.slotsMax + 1 }, (_, index) => `$${index}`)]),
      slots: Array.from({ length: defaultCapDataLimits.slotsMax + 1 }, (_, index) => `o+${index + 10}`),
    },
    /slots, more than 1024/,
  ],
  ['a method name of 10,000 characters', { body: smallcaps(['x'.repeat(10_000), []]), slots: [] }, /method name of 10000 characters/],
];

describe('hostile: a holder of an ocap URL, over libp2p', () => {
  it('cannot disable the node: each bad message is rejected back to it, the vat answers the next honest call, and the node restarts cleanly', async () => {
    const dir = dirs.make('ken-victim-');
    const { node } = await startNode({ dir, transport: { kind: 'libp2p', listen } });
    let victim: KenNode = node;
    stops.push(() => victim.stop());
    await victim.kernel.createVat({ name: 'bootstrap', bundle: await testVat('peer') });
    const { swiss } = parseOcapUrl(await victim.issueUrl(victim.kernel.rootOf('bootstrap')));
    const attackerTransport = await Libp2pTransport.start({ privateKey: await generateKeyPair('Ed25519'), listen, maxFrameBytes: 4 * 1024 * 1024, logger: recordingLogger() });
    stops.push(() => attackerTransport.stop());
    await attackerTransport.addPeerAddresses(victim.peerId, victim.transport.addresses());
    const attacker = new RawPeer(attackerTransport, victim.peerId, victim.store.meta.incarnation());

    // The URL redeemed as any holder would: the root is now the attacker's o-N.
    await attacker.send({ kind: 'redeem', swiss, result: 'p+1' });
    const redeemed = await attacker.answer('p+1');
    expect(redeemed.rejected).toBe(false);
    const root = flipRef(redeemed.slots[0] as string);

    let results = 100;
    const honestCall = async () => {
      const result = `p+${(results += 1)}`;
      await attacker.send({ kind: 'deliver', target: root, methargs: { body: smallcaps(['echo', ['honest']]), slots: [] }, result });
      return attacker.answer(result);
    };
    expect(await honestCall()).toMatchObject({ rejected: false, body: smallcaps('honest') });

    for (const [what, methargs, reason] of attacks) {
      const result = `p+${(results += 1)}`;
      await attacker.send({ kind: 'deliver', target: root, methargs, result });
      const answer = await attacker.answer(result);
      expect(answer.rejected, what).toBe(true);
      expect(answer.body, what).toMatch(/message refused by the receiving node/);
      expect(answer.body, what).toMatch(reason);
      // The session goes on, and the vat answers.
      expect(await honestCall(), what).toMatchObject({ rejected: false, body: smallcaps('honest') });
    }
    expect(attacker.disconnects).toBe(0);
    expect(victim.sessions.refusalsOf(attackerTransport.peerId)).toBe(attacks.length);
    expect(victim.store.vats.getByName('bootstrap')?.state).toBe('live');
    // The vat counted only the honest calls.
    expect(await victim.kernel.call(victim.kernel.rootOf('bootstrap'), 'calls')).toBe(attacks.length + 1);

    // A restart on the same store: the vat comes back and answers.
    await victim.stop();
    victim = await KenNode.start({ storePath: path.join(dir, 'kernel.sqlite'), durability: 'process', logger: recordingLogger(), transport: { kind: 'libp2p', listen, keyFile: path.join(dir, 'node.key') } });
    expect(victim.store.vats.getByName('bootstrap')?.state).toBe('live');
    expect(await victim.kernel.call(victim.kernel.rootOf('bootstrap'), 'echo', ['after restart'])).toBe('after restart');
  }, 120_000);
});
