import { copyFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { exampleVat, testVat } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

type Started = Awaited<ReturnType<typeof startNode>>;

/** A node with a `recorder` (what it consumes) and a `peer` vat (to send from, with a result per send). */
async function startParty(network: MemoryNetwork, name: string, dir: string, fresh: boolean): Promise<Started> {
  const started = await startNode({ dir, transport: { kind: 'memory', network, peerId: name } });
  if (fresh) {
    await started.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    await started.node.kernel.createVat({ name: 'peer', bundle: await testVat('peer') });
  }
  return started;
}

/** `count` sends from `from`'s peer vat to `to` (a remote recorder), each with its result: the recorder's count, or a rejection. */
function sendAll(from: Started, to: object, count: number, first: number): Promise<PromiseSettledResult<unknown>[]> {
  const root = from.node.kernel.rootOf('peer');
  const results = Array.from({ length: count }, (_, index) => from.node.kernel.queueToKref(root, 'call', [to, 'receive', first + index]));
  void from.node.kernel.run();
  return Promise.allSettled(results);
}

const countOf = (party: Started) => party.node.kernel.call(party.node.kernel.rootOf('recorder'), 'count');

describe.each([10, 30])('a store restored from an older copy, then %i new sends each way (in-memory transport)', (newSends) => {
  for (const restored of ['A', 'B'] as const) {
    it(`restoring ${restored}: found at the first hello, logged on both sides with its ranges, every new send rejected to its sender, nothing looping`, async () => {
      const network = new MemoryNetwork();
      const dirOf = { A: dirs.make('ken-A-'), B: dirs.make('ken-B-') };
      const party = { A: await startParty(network, 'A', dirOf.A, true), B: await startParty(network, 'B', dirOf.B, true) };
      const recorderOf = async (owner: 'A' | 'B', holder: 'A' | 'B') =>
        party[holder].node.redeemUrl(await party[owner].node.issueUrl(party[owner].node.kernel.rootOf('recorder')));
      const remote = { A: await recorderOf('B', 'A'), B: await recorderOf('A', 'B') };
      const exchange = async (count: number, first: number) => {
        const [fromA, fromB] = await Promise.all([sendAll(party.A, remote.A, count, first), sendAll(party.B, remote.B, count, first)]);
        return { fromA, fromB };
      };
      const drained = () => eventually('both outboxes to drain', () => party.A.node.sessions.outboxDepth('B') === 0 && party.B.node.sessions.outboxDepth('A') === 0);

      // 100 each way, then a copy of the node to restore, then 100 more each way.
      await exchange(100, 1);
      await drained();
      await party[restored].node.stop();
      const backup = path.join(dirs.make('ken-backup-'), 'kernel.sqlite');
      copyFileSync(path.join(dirOf[restored], 'kernel.sqlite'), backup);
      party[restored] = await startParty(network, restored, dirOf[restored], false);
      const more = await exchange(100, 101);
      for (const result of [...more.fromA, ...more.fromB]) expect(result.status).toBe('fulfilled');
      await drained();
      expect(await countOf(party.A)).toBe(200);
      expect(await countOf(party.B)).toBe(200);

      // The restore: the node comes back with the copy, under its incarnation.
      const other = restored === 'A' ? 'B' : 'A';
      const latest = party[restored].node.store.peers.get(other)!;
      await party[restored].node.stop();
      const store = path.join(dirOf[restored], 'kernel.sqlite');
      for (const file of [`${store}-wal`, `${store}-shm`]) rmSync(file, { force: true });
      copyFileSync(backup, store);
      party[restored] = await startParty(network, restored, dirOf[restored], false);
      const copied = party[restored].node.store.peers.get(other)!;
      expect(await countOf(party[restored])).toBe(100);
      // What the copy forgot, in the pair's sequence numbers: each send is a deliver one way, and the results go the
      // other in notify frames (several to a frame when they follow one another), so 100 delivers and at least one notify.
      const forgottenSends = [copied.nextSendSeq, latest.nextSendSeq - 1];
      const lostReceives = [copied.receivedSeq + 1, latest.receivedSeq];
      expect(forgottenSends[1]! - forgottenSends[0]!).toBeGreaterThanOrEqual(100);
      const framesBefore = network.wire.length;

      const after = await exchange(newSends, 1_000);
      // Each new send is rejected to its sender, with the reason; none is consumed.
      for (const result of [...after.fromA, ...after.fromB]) {
        expect(result.status).toBe('rejected');
        expect(String((result as PromiseRejectedResult).reason)).toMatch(/rolled back|lost its state/);
      }
      await drained();
      expect(await countOf(party[restored])).toBe(100);
      expect(await countOf(party[other])).toBe(200);
      // Bounded: a few frames per message and per hello, not a reconnect loop.
      expect(network.wire.length - framesBefore).toBeLessThan(40 * newSends + 200);

      // One line on each side names the numbers; nobody blames the other for a bad frame.
      const rolledBackLine = party[restored].logger.entries.find((entry) => entry.message?.startsWith(`this node's store is behind peer ${other}'s`));
      expect(rolledBackLine).toMatchObject({ level: 'error', object: { peerId: other, forgottenSends, lostReceives } });
      // The other side hears it from the new incarnation's hello (and may have seen the rollback first, from the old one's).
      const otherLine = party[other].logger.entries.find((entry) => entry.message?.startsWith(`peer ${restored} found its store rolled back to an older copy and started the pair over`));
      expect(otherLine).toMatchObject({ level: 'warn', object: { forgottenSends, lostReceives } });
      for (const side of [party.A, party.B]) expect(side.logger.entries.filter((entry) => entry.message?.startsWith('bad frame'))).toEqual([]);

      // The pair works again, with fresh references.
      const again = { A: await recorderOf('B', 'A'), B: await recorderOf('A', 'B') };
      const [fromA, fromB] = await Promise.all([sendAll(party.A, again.A, 5, 2_000), sendAll(party.B, again.B, 5, 2_000)]);
      for (const result of [...fromA, ...fromB]) expect(result.status).toBe('fulfilled');
      expect(await countOf(party[restored])).toBe(105);
      expect(await countOf(party[other])).toBe(205);
      await party.A.node.stop();
      await party.B.node.stop();
    });
  }
});
