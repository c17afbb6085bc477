import { fdatasync, fdatasyncSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import type { WalDisk } from '../../src/store/walSync.js';
import { exampleVat } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

interface PairState {
  sent: number;
  received: number;
}

describe('fsync off the critical path (durability fsync)', () => {
  it('puts nothing on the wire before the flush that covers it has returned, while the next cranks run', async () => {
    const network = new MemoryNetwork();
    const dirA = dirs.make('ken-A-');
    const dirB = dirs.make('ken-B-');
    // A read-only connection sees what A committed; what a flush covers is
    // what was committed when it began, and is on disk once it returns.
    let committedA: Database.Database | undefined;
    const committedState = (): PairState => {
      const row = committedA
        ?.prepare<[], { sent: number; received: number }>("SELECT next_send_seq - 1 AS sent, received_seq AS received FROM peers WHERE peer_id = 'B'")
        .get();
      return row ?? { sent: 0, received: 0 };
    };
    let durable: PairState = { sent: 0, received: 0 };
    let cranksOfA = () => 0;
    const flushes: { cranksDuring: number }[] = [];
    const madeDurable = (covers: PairState) => {
      durable = { sent: Math.max(durable.sent, covers.sent), received: Math.max(durable.received, covers.received) };
    };
    let flushesInThread = 0;
    const slowDisk: WalDisk = {
      // In the thread pool, a slow disk: each flush takes 15 ms more than the real one.
      fdatasync: (fd, done) => {
        const covers = committedState();
        const cranksAtStart = cranksOfA();
        setTimeout(() => {
          fdatasync(fd, (error) => {
            if (error === null) {
              madeDurable(covers);
              flushes.push({ cranksDuring: cranksOfA() - cranksAtStart });
            }
            done(error);
          });
        }, 15);
      },
      // In the kernel's thread, when it has nothing else to run: what it covers is on disk once it returns.
      fdatasyncSync: (fd) => {
        const covers = committedState();
        fdatasyncSync(fd);
        madeDurable(covers);
        flushesInThread += 1;
      },
    };
    const a = await startNode({ dir: dirA, transport: { kind: 'memory', network, peerId: 'A' }, durability: 'fsync', disk: slowDisk });
    const b = await startNode({ dir: dirB, transport: { kind: 'memory', network, peerId: 'B' }, durability: 'fsync' });
    committedA = new Database(path.join(dirA, 'kernel.sqlite'), { readonly: true });
    cranksOfA = () => a.node.kernel.stats.cranks;
    await b.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    await b.node.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    await a.node.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    await a.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    const remoteRecorderOfB = await a.node.redeemUrl(await b.node.issueUrl(b.node.kernel.rootOf('recorder')));
    const remoteRecorderOfA = await b.node.redeemUrl(await a.node.issueUrl(a.node.kernel.rootOf('recorder')));

    const violations: string[] = [];
    let checked = 0;
    network.onSend = (record) => {
      if (record.from !== 'A') return;
      const frame = JSON.parse(new TextDecoder().decode(record.frame)) as { type: string; seq?: number; ack?: number; receivedSeq?: number; sentSeq?: number };
      checked += 1;
      if (frame.type === 'msg' && frame.seq! > durable.sent) violations.push(`msg ${frame.seq} left with ${durable.sent} on disk`);
      if (frame.ack !== undefined && frame.ack > durable.received) violations.push(`ack ${frame.ack} left with ${durable.received} consumed on disk`);
      if (frame.type === 'hello' && (frame.receivedSeq! > durable.received || frame.sentSeq! > durable.sent)) violations.push(`hello ${JSON.stringify(frame)} ahead of the disk`);
    };
    // Both ways at once: A sends and consumes (and acks) while its flushes are slow.
    const fromB = b.node.kernel.call(b.node.kernel.rootOf('sender'), 'sendBatch', [remoteRecorderOfA, 100, 100]);
    expect(await a.node.kernel.call(a.node.kernel.rootOf('sender'), 'sendBatch', [remoteRecorderOfB, 200, 200])).toBe(200);
    expect(await fromB).toBe(100);
    await eventually('B consumed 200', async () => (await b.node.kernel.call(b.node.kernel.rootOf('recorder'), 'count')) === 200);
    await eventually('A consumed 100', async () => (await a.node.kernel.call(a.node.kernel.rootOf('recorder'), 'count')) === 100);
    await eventually('both outboxes drained', () => a.node.sessions.outboxDepth('B') === 0 && b.node.sessions.outboxDepth('A') === 0);
    // Round trips one at a time: A goes idle after each send, so the COMMIT that holds it is flushed in A's thread.
    const inThreadBefore = flushesInThread;
    expect(await a.node.kernel.call(a.node.kernel.rootOf('sender'), 'pingPong', [remoteRecorderOfB, 5])).toBe(5);
    expect(flushesInThread).toBeGreaterThan(inThreadBefore);
    network.onSend = undefined;
    expect(violations).toEqual([]);
    expect(checked).toBeGreaterThan(100);
    // The kernel did not wait for the disk: cranks ran while flushes were in flight.
    expect(flushes.filter((flush) => flush.cranksDuring > 0).length).toBeGreaterThan(3);
    committedA.close();
    committedA = undefined; // the stops below flush once more
    await a.node.stop();
    await b.node.stop();
  });
});
