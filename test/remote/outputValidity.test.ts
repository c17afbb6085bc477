import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { CrashPoints, type CrashPointName } from '../../src/fault/crashPoints.js';
import { MemoryNetwork, type WireRecord } from '../../src/net/memoryTransport.js';
import type { KenNode } from '../../src/node/node.js';
import { exampleVat, testVat } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const text = (record: WireRecord) => new TextDecoder().decode(record.frame);
const parsed = (record: WireRecord) => JSON.parse(text(record)) as { type: string; seq?: number; ack?: number };

/** A crash in the same process: timers stop, the connection drops, and the store closes without committing. */
function crash(node: KenNode, network: MemoryNetwork): void {
  node.sessions.stop();
  network.remove(node.peerId);
  node.store.close();
}

async function pair(commit?: { maxCranks: number; maxDelayMs: number }, crashPointsOfA?: CrashPoints, session?: { resendMs: number; maxResendMs: number }) {
  const network = new MemoryNetwork();
  const dirA = dirs.make('ken-A-');
  const dirB = dirs.make('ken-B-');
  const a = await startNode({ dir: dirA, transport: { kind: 'memory', network, peerId: 'A' }, commit, crashPoints: crashPointsOfA, session });
  const b = await startNode({ dir: dirB, transport: { kind: 'memory', network, peerId: 'B' }, commit, session });
  await b.node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
  const remoteRecorder = await a.node.redeemUrl(await b.node.issueUrl(b.node.kernel.rootOf('recorder')));
  return { network, dirA, dirB, a: a.node, b: b.node, remoteRecorder };
}

describe('output validity (G2)', () => {
  it('never puts on the wire what a rolled-back crank sent', async () => {
    const { network, a, b, remoteRecorder } = await pair();
    await a.kernel.createVat({ name: 'faulty', bundle: await testVat('faulty') });
    await a.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    await expect(a.kernel.call(a.kernel.rootOf('faulty'), 'workThenFail', [remoteRecorder])).rejects.toThrow(/terminated/);
    // Later traffic on the same pair carries only what committed cranks sent.
    expect(await a.kernel.call(a.kernel.rootOf('sender'), 'pingPong', [remoteRecorder, 3])).toBe(3);
    await eventually('A outbox drained', () => a.sessions.outboxDepth('B') === 0);
    const receives = network.wire
      .filter((record) => record.from === 'A' && parsed(record).type === 'msg' && text(record).includes('receive'))
      .map((record) => /"receive\\",\[(\d+)\]/.exec(text(record))?.[1]);
    expect(receives).toEqual(['1', '2', '3']);
    expect(await b.kernel.call(b.kernel.rootOf('recorder'), 'entries')).toEqual([1, 2, 3]);
    await a.stop();
    await b.stop();
  });

  it('sends, after a restart, rows committed before a crash that came before their transmission', async () => {
    const { network, dirA, a, b, remoteRecorder } = await pair();
    await a.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    network.cut('A', 'B');
    expect(await a.kernel.call(a.kernel.rootOf('sender'), 'sendBatch', [remoteRecorder, 10, 10])).toBe(10);
    expect(a.sessions.outboxDepth('B')).toBe(10);
    crash(a, network);
    network.restore('A', 'B');
    expect(await b.kernel.call(b.kernel.rootOf('recorder'), 'count')).toBe(0);

    const restarted = await startNode({ dir: dirA, transport: { kind: 'memory', network, peerId: 'A' } });
    const recorder = b.kernel.rootOf('recorder');
    await eventually('B consumed the 10 committed messages', async () => (await b.kernel.call(recorder, 'count')) === 10);
    expect(await b.kernel.call(recorder, 'entries')).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    await eventually('A outbox drained', () => restarted.node.sessions.outboxDepth('B') === 0);
    await restarted.node.stop();
    await b.stop();
  });

  it('transmits a row, and acks a seq, only once the COMMIT that holds it is durable', async () => {
    // Large groups: many cranks consume and send before each COMMIT. Quick
    // resends: a reset that falls on a resend's frames loses them all, and
    // the next resend waits for the timer.
    const { network, dirA, dirB, a, b, remoteRecorder } = await pair({ maxCranks: 64, maxDelayMs: 1000 }, undefined, { resendMs: 20, maxResendMs: 50 });
    await a.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    // Separate read-only connections see only committed state.
    const committed = {
      A: new Database(path.join(dirA, 'kernel.sqlite'), { readonly: true }),
      B: new Database(path.join(dirB, 'kernel.sqlite'), { readonly: true }),
    };
    const violations: string[] = [];
    let checked = 0;
    let flaps = 0;
    network.onSend = (record) => {
      const frame = parsed(record);
      const reader = committed[record.from as 'A' | 'B'];
      const row = reader
        .prepare<[string], { next_send_seq: number; received_seq: number }>('SELECT next_send_seq, received_seq FROM peers WHERE peer_id = ?')
        .get(record.to);
      if (frame.type === 'msg' && (row === undefined || frame.seq! > row.next_send_seq - 1)) {
        violations.push(`${record.from} sent seq ${frame.seq} before committing it`);
      }
      if ((frame.type === 'msg' || frame.type === 'ack') && frame.ack! > (row?.received_seq ?? 0)) {
        violations.push(`${record.from} acked ${frame.ack} before committing its consumption`);
      }
      checked += 1;
      // Every 7th frame, reset the connection one turn later: both sides
      // then resend at once, at instants that often fall inside an open
      // group transaction.
      if (checked % 7 === 0 && flaps < 40) {
        setImmediate(() => {
          flaps += 1;
          network.reset('A', 'B');
        });
      }
    };
    const sent = await a.kernel.call(a.kernel.rootOf('sender'), 'pingPong', [remoteRecorder, 60]);
    expect(await a.kernel.call(a.kernel.rootOf('sender'), 'sendBatch', [remoteRecorder, 300, 300])).toBe(300);
    expect(sent).toBe(60);
    const recorder = b.kernel.rootOf('recorder');
    await eventually('B consumed 360', async () => (await b.kernel.call(recorder, 'count')) === 360);
    await eventually('A outbox drained', () => a.sessions.outboxDepth('B') === 0);
    network.onSend = undefined;
    expect(checked).toBeGreaterThan(700);
    expect(flaps).toBeGreaterThan(4);
    expect(violations).toEqual([]);
    network.onSend = undefined;
    committed.A.close();
    committed.B.close();
    await a.stop();
    await b.stop();
  });

  it('keeps an open group\'s rows off the wire when a transmit runs between its cranks: the committedSendSeq guard', async () => {
    // A seam, not a crash: the crank points call `between` instead of dying.
    let between: (() => void) | undefined;
    class Between extends CrashPoints {
      override pass(point: CrashPointName): void {
        super.pass(point);
        if (point === 'crank-before-flush') between?.();
      }
    }
    // One group for the whole batch: COMMIT only once the run queue is empty.
    const { network, dirA, a, b, remoteRecorder } = await pair({ maxCranks: 1_000, maxDelayMs: 60_000 }, new Between());
    await a.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    const committedA = new Database(path.join(dirA, 'kernel.sqlite'), { readonly: true });
    const committedSendSeq = () => committedA.prepare<[], { seq: number }>("SELECT next_send_seq - 1 AS seq FROM peers WHERE peer_id = 'B'").get()!.seq;
    const liveSendSeq = () => a.store.peers.get('B')!.nextSendSeq - 1;
    const violations: string[] = [];
    let framesFromA = 0;
    network.onSend = (record) => {
      const frame = parsed(record);
      if (record.from === 'A') framesFromA += 1;
      if (record.from === 'A' && frame.type === 'msg' && frame.seq! > committedSendSeq()) violations.push(`A sent seq ${frame.seq}, committed up to ${committedSendSeq()}`);
    };
    // Between cranks 60 and 80 of the group (the 50 calls' own cranks come
    // first, then the 50 deliveries that each write a row), the connection
    // drops: the session resends from its first unacked row at once,
    // mid-group, while the transaction holds rows that are not yet committed.
    let cranks = 0;
    const mid: { live: number; committed: number; framesSent: number }[] = [];
    between = () => {
      cranks += 1;
      if (cranks < 60 || cranks > 80 || cranks % 5 !== 0) return;
      const framesBefore = framesFromA;
      network.reset('A', 'B');
      mid.push({ live: liveSendSeq(), committed: committedSendSeq(), framesSent: framesFromA - framesBefore });
    };
    const before = liveSendSeq();
    // 50 calls queued at once, each a crank of the sender that writes one
    // outbox row as its buffer is flushed: 50 cranks of one open group.
    const sender = a.kernel.rootOf('sender');
    const sent = Array.from({ length: 50 }, () => a.kernel.queueToKref(sender, 'sendBatch', [remoteRecorder, 1, 50]));
    await a.kernel.run();
    expect(await Promise.all(sent)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    between = undefined;
    // The resends ran while the live counter was ahead of the committed one: read live, they would have sent the open group's rows.
    expect(mid.length).toBeGreaterThanOrEqual(3);
    for (const moment of mid) {
      expect(moment.live).toBeGreaterThan(moment.committed);
      expect(moment.framesSent).toBeGreaterThan(0);
    }
    expect(mid.at(-1)!.live - before).toBeGreaterThan(10);
    expect(violations).toEqual([]);
    const recorder = b.kernel.rootOf('recorder');
    await eventually('B consumed the 50', async () => (await b.kernel.call(recorder, 'count')) === 50);
    expect(await b.kernel.call(recorder, 'entries')).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    network.onSend = undefined;
    committedA.close();
    await a.stop();
    await b.stop();
  });

  it('puts in a hello only what the committed store says of the pair (incarnations, a start over), even between the cranks of an open group', async () => {
    const { network, dirA, a, b, remoteRecorder } = await pair({ maxCranks: 1_000, maxDelayMs: 60_000 });
    await a.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    expect(await a.kernel.call(a.kernel.rootOf('sender'), 'pingPong', [remoteRecorder, 2])).toBe(2);
    const committedA = new Database(path.join(dirA, 'kernel.sqlite'), { readonly: true });
    const committedPair = () =>
      committedA.prepare<[], { incarnation: string | null; local_incarnation: string | null; started_over: string | null }>(
        "SELECT incarnation, local_incarnation, started_over FROM peers WHERE peer_id = 'B'",
      ).get()!;
    const storeIncarnation = a.store.meta.incarnation();
    const hellos: { said: { incarnation: string; yourIncarnation: string | null; startedOver: unknown }; committed: ReturnType<typeof committedPair> }[] = [];
    network.onSend = (record) => {
      if (record.from === 'A' && parsed(record).type === 'hello') hellos.push({ said: JSON.parse(text(record)), committed: committedPair() });
    };
    // One group of two cranks: the first starts the pair with B over (as a
    // rollback found at a hello does: a new incarnation for B, and what was
    // lost), the second drops the connection, so that A says hello again at
    // once, before the COMMIT.
    const newIncarnation = 'ab'.repeat(16);
    const startedOver = { forgottenSends: [3, 4] as [number, number], lostReceives: null };
    const failed = (error: unknown) => {
      throw error;
    };
    a.kernel.queueExternal({ apply: (context) => context.store.peers.startOver('B', newIncarnation, startedOver), failed });
    a.kernel.queueExternal({ apply: () => network.reset('A', 'B'), failed });
    await a.kernel.run();
    expect(hellos.length).toBe(1);
    // Committed since: the next hello says it.
    network.reset('A', 'B');
    await eventually('a hello after the COMMIT', () => hellos.length === 2);
    for (const { said, committed } of hellos) {
      expect(said.incarnation).toBe(committed.local_incarnation ?? storeIncarnation);
      expect(said.yourIncarnation).toBe(committed.incarnation);
      expect(said.startedOver).toEqual(committed.started_over === null ? null : JSON.parse(committed.started_over));
    }
    expect(hellos.map(({ said }) => said.incarnation)).toEqual([storeIncarnation, newIncarnation]);
    network.onSend = undefined;
    committedA.close();
    await a.stop();
    await b.stop();
  });
});
