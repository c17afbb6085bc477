import { fdatasync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import type { FdatasyncFn } from '../../src/store/walSync.js';
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
    // A slow disk: each flush takes 15 ms more than the real one.
    const slowFdatasync: FdatasyncFn = (fd, done) => {
      const covers = committedState();
      const cranksAtStart = cranksOfA();
      setTimeout(() => {
        fdatasync(fd, (error) => {
          if (error === null) {
            durable = { sent: Math.max(durable.sent, covers.sent), received: Math.max(durable.received, covers.received) };
            flushes.push({ cranksDuring: cranksOfA() - cranksAtStart });
          }
          done(error);
        });
      }, 15);
    };
    const a = await startNode({ dir: dirA, transport: { kind: 'memory', network, peerId: 'A' }, durability: 'fsync', fdatasync: slowFdatasync });
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
    network.onSend = undefined;
    expect(violations).toEqual([]);
    expect(checked).toBeGreaterThan(100);
    // The kernel did not wait for the disk: cranks ran while flushes were in flight.
    expect(flushes.filter((flush) => flush.cranksDuring > 0).length).toBeGreaterThan(3);
    committedA.close();
    await a.node.stop();
    await b.node.stop();
  });
});
