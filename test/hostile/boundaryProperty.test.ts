import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { encode } from '../../src/kernel/kmarshal.js';
import { flipRef } from '../../src/remote/frames.js';
import { parseOcapUrl } from '../../src/remote/ocapUrl.js';
import { testSeed } from '../../src/util/random.js';
import { testVat } from '../support/harness.js';
import { startNode, tempDirs } from '../support/nodes.js';
import { RawPeer } from '../support/rawPeer.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const runs = 300;

/** Strings a hostile body is made of: smallcaps specials, references, brackets, and plain text. */
const token = fc.oneof(
  fc.constantFrom('$0', '$1', '&0', '&1', '$0.Alleged: x', '$0.junk', '#undefined', '#NaN', '#junk', '+12', '-x', '%@@iterator', '%@@nope', '!x', '', 'echo'),
  fc.string({ maxLength: 8 }),
);
const json: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    token,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(token, fc.constantFrom('#tag', '#error', 'payload', 'name', 'message', '__proto__')), tie('value'), { maxKeys: 3, noNullPrototype: true }),
  ),
})).value;
/** Bodies: honest ones (the kernel's own encoding of plain data), `[method, args]`-shaped smallcaps, and anything at all. */
const body = fc.oneof(
  fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 3 }).map((args) => encode(harden(['echo', JSON.parse(JSON.stringify(args))])).body),
  fc.tuple(fc.oneof(fc.constant('echo'), json), fc.oneof(fc.array(json, { maxLength: 3 }), json)).map((methargs) => `#${JSON.stringify(methargs)}`),
  json.map((value) => `#${JSON.stringify(value)}`),
  fc.string({ maxLength: 40 }),
  fc.nat(200).map((depth) => `#["echo",[${'['.repeat(depth)}${']'.repeat(depth)}]]`),
);
/** Slots: the peer's own new exports and promises, refs it was never given, and the root it was given. */
const slots = fc.array(fc.constantFrom('o+5', 'o+6', 'p+7', 'o-77', 'p-9', 'ROOT'), { maxLength: 3 });

describe('hostile: arbitrary capdata at the boundary', () => {
  it(`never fails the vat, never crashes the node, and changes nothing but the refusal count (${runs} runs)`, async () => {
    const seed = testSeed();
    console.log(`boundary property seed ${seed} (replay: KEN_SEED=${seed} npx vitest run test/hostile/boundaryProperty.test.ts)`);
    const network = new MemoryNetwork();
    const { node } = await startNode({ dir: dirs.make('ken-victim-'), transport: { kind: 'memory', network, peerId: 'victim' } });
    await node.kernel.createVat({ name: 'bootstrap', bundle: await testVat('peer') });
    const { swiss } = parseOcapUrl(await node.issueUrl(node.kernel.rootOf('bootstrap')));
    const attacker = new RawPeer(network.transport('attacker'), 'victim', node.store.meta.incarnation());
    await attacker.send({ kind: 'redeem', swiss, result: 'p+1' });
    const root = flipRef((await attacker.answer('p+1')).slots[0] as string);
    const vatTables = () => {
      const dump = node.store.dump();
      return { vats: dump.vats, vatstore: dump.vatstore };
    };
    let result = 1_000;
    let accepted = 0;

    await fc.assert(
      fc.asyncProperty(body, slots, async (bodyText, slotList) => {
        const calls = (await node.kernel.call(node.kernel.rootOf('bootstrap'), 'calls')) as number;
        const before = vatTables();
        const refusals = node.sessions.refusalsOf('attacker');
        const ref = `p+${(result += 1)}`;
        await attacker.send({ kind: 'deliver', target: root, methargs: { body: bodyText, slots: slotList.map((slot) => (slot === 'ROOT' ? root : slot)) }, result: ref });
        // Every message is answered: refused with a reason, or delivered and settled by the vat.
        const answer = await attacker.answer(ref);
        await node.kernel.run();
        const refused = node.sessions.refusalsOf('attacker') === refusals + 1;
        expect(node.store.vats.getByName('bootstrap')?.state).toBe('live');
        if (refused) {
          expect(answer.rejected).toBe(true);
          expect(answer.body).toContain('message refused by the receiving node');
          expect(vatTables()).toEqual(before);
        } else {
          // Delivered: the vat saw a well-formed message and said what it says (echo counts a call; any other method rejects).
          accepted += 1;
          expect(node.sessions.refusalsOf('attacker')).toBe(refusals);
          const callsNow = (await node.kernel.call(node.kernel.rootOf('bootstrap'), 'calls')) as number;
          expect(callsNow === calls + 1 || answer.rejected).toBe(true);
        }
      }),
      { numRuns: runs, seed },
    );
    // The node still works, and the attacker was never cut off.
    expect(await node.kernel.call(node.kernel.rootOf('bootstrap'), 'echo', ['still here'])).toBe('still here');
    expect(attacker.disconnects).toBe(0);
    console.log(`boundary property: ${runs} messages, ${node.sessions.refusalsOf('attacker')} refused, ${accepted} delivered`);
    expect(node.sessions.refusalsOf('attacker')).toBeGreaterThan(runs / 4);
    expect(accepted).toBeGreaterThan(0);
    await node.stop();
  }, 300_000);
});
