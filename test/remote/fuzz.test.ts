import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { encodeFrame } from '../../src/remote/frames.js';
import { pairTagOf } from '../../src/remote/pairTag.js';
import { seededRandom, testSeed } from '../../src/util/random.js';
import { exampleVat } from '../support/harness.js';
import { hostileFrame, hostileKinds, type HostileKind } from '../support/hostileFrames.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const hostileFrameCount = 100_000;
/** Frames after the honest traffic is done, against a store that must not change but for the attacker's own pair. */
const quietFrameCount = 5_000;
const honestBatches = 20;
const honestBatchSize = 20;

describe('fuzzing a live node with hostile frames', () => {
  it(`takes ${hostileFrameCount} malformed, truncated, oversized, type-confused and forbidden frames without a crash or a state change, while an honest peer's messages arrive exactly once, in order`, async () => {
    const seed = testSeed();
    console.log(`fuzz seed ${seed} (replay: KEN_SEED=${seed} npx vitest run test/remote/fuzz.test.ts)`);
    const random = seededRandom(seed);
    const network = new MemoryNetwork();
    const victim = await startNode({ dir: dirs.make('ken-victim-'), transport: { kind: 'memory', network, peerId: 'victim' } });
    const honest = await startNode({ dir: dirs.make('ken-honest-'), transport: { kind: 'memory', network, peerId: 'honest' } });
    await victim.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    await honest.node.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    const remoteRecorder = await honest.node.redeemUrl(await victim.node.issueUrl(victim.node.kernel.rootOf('recorder')));
    const sender = honest.node.kernel.rootOf('sender');
    const recorder = victim.node.kernel.rootOf('recorder');

    const evil = network.transport('evil');
    const evilIncarnation = 'e'.repeat(32);
    // Its hello names no incarnation of the victim's: the tag of a first contact, so that its frames are judged, not ignored as another pair's.
    const evilPair = pairTagOf(evilIncarnation, null);
    evil.setHandlers({
      frame: () => {},
      helloFrame: () => encodeFrame({ type: 'hello', incarnation: evilIncarnation, yourIncarnation: null, receivedSeq: 0, receivedDigest: null, window: 1000, sentSeq: 0, ackedSeq: 0, addresses: [], startedOver: null }),
      connected: () => {},
      disconnected: () => {},
    });
    const sent: Record<HostileKind, number> = { 'random bytes': 0, truncated: 0, 'type-confused': 0, oversized: 0, forbidden: 0 };
    const throwAt = async (count: number) => {
      for (let index = 0; index < count; index += 1) {
        const kind = hostileKinds[Math.floor(random() * hostileKinds.length)] as HostileKind;
        sent[kind] += 1;
        await evil.send('victim', [hostileFrame(random, kind, evilPair)]);
        // One turn for the frame to arrive and be judged, and the crank it may cost.
        await new Promise((resolve) => setImmediate(resolve));
        await victim.node.kernel.run();
      }
    };

    let honestSent = 0;
    const batchEvery = hostileFrameCount / honestBatches;
    for (let batch = 0; batch < honestBatches; batch += 1) {
      honestSent += honestBatchSize;
      void honest.node.kernel.call(sender, 'sendBatch', [remoteRecorder, honestBatchSize, honestSent]);
      await throwAt(batchEvery);
    }
    const expected = Array.from({ length: honestSent }, (_, index) => index + 1);
    await eventually('the honest messages consumed', async () => (await victim.node.kernel.call(recorder, 'count')) === honestSent, 60_000).catch(async (error: unknown) => {
      throw new Error(`${String(error)}: consumed ${String(await victim.node.kernel.call(recorder, 'count'))} of ${honestSent}; honest outbox ${honest.node.sessions.outboxDepth('victim')}; victim stats ${JSON.stringify(victim.node.sessions.stats)}, honest ${JSON.stringify(honest.node.sessions.stats)}`);
    });
    expect(await victim.node.kernel.call(recorder, 'entries')).toEqual(expected);
    await eventually('the honest outbox drained', () => honest.node.sessions.outboxDepth('victim') === 0, 60_000);

    // The attacker reached no vat (the recorder's log is the honest one), and all it got back is rejections:
    // the messages of its that were consumed were refused alone or were redeems of swiss numbers never issued.
    const evilRecord = victim.node.store.peers.get('evil');
    expect(evilRecord?.receivedSeq).toBeGreaterThanOrEqual(victim.node.sessions.refusalsOf('evil'));
    const answers = victim.node.store.outbox.read('evil', 1, Number.MAX_SAFE_INTEGER, 10_000).map((row) => JSON.parse(row.frame) as { kind: string; resolutions: [string, boolean][] });
    for (const answer of answers) expect(answer.kind === 'notify' && answer.resolutions.every(([, rejected]) => rejected)).toBe(true);

    // With the honest traffic done, the victim's store must stay as it is, but for what the attacker's
    // own messages cost it: their sequence numbers, and the rejections that answer them.
    await victim.node.kernel.run();
    const apartFromEvil = (dump: Record<string, unknown[]>) => {
      const evilEndpoint = victim.node.store.peers.get('evil')?.endpoint;
      const ofEvil = (row: unknown) => (row as { endpoint?: string }).endpoint === evilEndpoint;
      const evilKrefs = new Set(dump.clist?.filter(ofEvil).map((row) => (row as { kref: string }).kref));
      const notEvilPeer = (row: unknown) => (row as { peer_id?: string }).peer_id !== 'evil';
      return {
        ...dump,
        peers: dump.peers?.filter(notEvilPeer),
        outbox: dump.outbox?.filter(notEvilPeer),
        clist: dump.clist?.filter((row) => !ofEvil(row)),
        kernel_promises: dump.kernel_promises?.filter((row) => !evilKrefs.has((row as { kpid: string }).kpid)),
        // The promise counter moves with each rejected result.
        kernel_meta: dump.kernel_meta?.filter((row) => !(row as { key: string }).key.startsWith('next.')),
      };
    };
    const before = victim.node.store.dump();
    await throwAt(quietFrameCount);
    expect(apartFromEvil(victim.node.store.dump())).toEqual(apartFromEvil(before));
    // The generator's sequence numbers stop at 5.
    expect(victim.node.store.peers.get('evil')?.receivedSeq).toBeLessThanOrEqual(5);
    for (const row of victim.node.store.outbox.read('evil', 1, Number.MAX_SAFE_INTEGER, 10_000)) {
      const answer = JSON.parse(row.frame) as { kind: string; resolutions: [string, boolean][] };
      expect(answer.kind === 'notify' && answer.resolutions.every(([, rejected]) => rejected)).toBe(true);
    }

    const stats = victim.node.sessions.stats;
    console.log(`fuzz: ${hostileFrameCount + quietFrameCount} hostile frames ${JSON.stringify(sent)}; victim: ${stats.badFrames} frames refused, ${stats.messagesRefused} messages refused, ${stats.gapsDropped} gaps and ${stats.duplicatesDropped} duplicates dropped; ${honestSent} honest messages exactly once`);
    // Every kind was thrown, and the node refused frames (it did not just ignore the attacker).
    for (const kind of hostileKinds) expect(sent[kind]).toBeGreaterThan(1000);
    expect(stats.badFrames).toBeGreaterThan((hostileFrameCount + quietFrameCount) / 2);
    // The node still works after all of it.
    expect(await honest.node.kernel.call(sender, 'pingPong', [remoteRecorder, 3])).toBe(3);
    await honest.node.stop();
    await victim.node.stop();
  }, 600_000);
});
