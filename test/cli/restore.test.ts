import { copyFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dataDirFiles } from '../../src/config/dataDir.js';
import { eventually, tempDirs } from '../support/nodes.js';
import type { Exit } from '../support/cli.js';
import { ask, countsOf, nodeProcesses, type RunningNode } from '../support/nodeCli.js';

const dirs = tempDirs();
const nodes = nodeProcesses();
afterEach(() => {
  nodes.killAll();
  dirs.cleanup();
});

type Side = 'a' | 'b';
const otherOf = (side: Side): Side => (side === 'a' ? 'b' : 'a');

/** Two counter nodes that know each other as `a` and `b`, having exchanged 100 messages each way, with a backup of `backedUp` taken while it ran; then 100 more each way. */
async function pairWithBackup(backedUp: Side) {
  const root = dirs.make('ken-restore-');
  const dir = { a: path.join(root, 'a'), b: path.join(root, 'b') };
  for (const side of ['a', 'b'] as const) expect((await nodes.init(dir[side])).code).toBe(0);
  const running: Record<Side, RunningNode> = { a: await nodes.start(dir.a), b: await nodes.start(dir.b) };
  const peerId = {
    a: ((await ask(dir.a, 'GET', '/status')) as { peerId: string }).peerId,
    b: ((await ask(dir.b, 'GET', '/status')) as { peerId: string }).peerId,
  };
  const introduce = async (side: Side, name: string) => {
    const url = (await nodes.run(['url', '--data-dir', dir[otherOf(side)]])).stdout.trim();
    const added = await nodes.run(['peers', '--data-dir', dir[side], '--add', `${name}=${url}`]);
    expect(added.code, added.stderr).toBe(0);
  };
  await introduce('a', 'b');
  await introduce('b', 'a');
  const send = async (count: number) => {
    for (const side of ['a', 'b'] as const) await nodes.run(['call', '--data-dir', dir[side], 'send', JSON.stringify(otherOf(side)), String(count)]);
  };
  const received = async (side: Side) => (await countsOf(dir[side])).received;
  const bothReceived = (count: number) => eventually(`both to have received ${count}`, async () => (await received('a')) === count && (await received('b')) === count, 30_000);
  await send(100);
  await bothReceived(100);
  const backup = path.join(root, 'backup.sqlite');
  const made = await nodes.run(['backup', '--data-dir', dir[backedUp], '--to', backup]);
  expect(made.code, made.stderr).toBe(0);
  expect(made.stdout).toContain('keep a copy of');
  await send(100);
  await bothReceived(200);
  /**
   * `count` new sends each way after the restore: both outboxes drain, what
   * each side consumed stays as `consumed` says (the new sends were
   * rejected to their senders), with a bounded number of frames. Returns
   * the bad frames each side counted, for {@link expectNoBadFrames} once
   * the nodes have stopped and their logs say why.
   */
  const sendAfterRestore = async (count: number, consumed: Record<Side, number>): Promise<Record<Side, number>> => {
    await send(count);
    for (const side of ['a', 'b'] as const) {
      await eventually(`${side}'s outbox to drain`, async () => (await nodes.outboxTo(dir[side], peerId[otherOf(side)])) === 0, 30_000);
    }
    const badFrames = { a: 0, b: 0 };
    for (const side of ['a', 'b'] as const) {
      expect(await received(side)).toBe(consumed[side]);
      const sessions = ((await ask(dir[side], 'GET', '/status')) as { sessions: { framesSent: number; badFrames: number } }).sessions;
      expect(sessions.framesSent).toBeLessThan(2_000);
      badFrames[side] = sessions.badFrames;
    }
    return badFrames;
  };
  return { dir, running, peerId, backup, received, introduce, sendAfterRestore };
}

/** Neither honest side refused a frame of the other; if one did, its log lines about it are the message. */
function expectNoBadFrames(badFrames: Record<Side, number>, stopped: Record<Side, Exit>): void {
  for (const side of ['a', 'b'] as const) {
    const lines = stopped[side].stderr.split('\n').filter((line) => line.includes('bad frame'));
    expect(badFrames[side], `${side} refused frames:\n${lines.join('\n')}`).toBe(0);
  }
}

describe('a node restored from an older backup, two node processes over libp2p', () => {
  it('`ken-node restore`: the node starts as a new incarnation; its peer drops what they shared; 10 new sends each way are rejected, none lost silently, nothing loops', async () => {
    const { dir, running, peerId, backup, received, introduce, sendAfterRestore } = await pairWithBackup('a');
    const whileRunning = await nodes.run(['restore', '--data-dir', dir.a, '--from', backup]);
    expect(whileRunning.code).toBe(1);
    expect(whileRunning.stderr).toContain('already running');
    const backupOfB = `${backup}.b`;
    expect((await nodes.run(['backup', '--data-dir', dir.b, '--to', backupOfB])).code).toBe(0);
    running.a.child.kill('SIGTERM');
    expect(await running.a.exited).toMatchObject({ code: 0 });
    const refused = await nodes.run(['backup', '--data-dir', dir.a, '--to', backup]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('exists: back up to a new file');
    const foreign = await nodes.run(['restore', '--data-dir', dir.a, '--from', backupOfB]);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toContain(`is the store of peer ${peerId.b}, but this node's key is peer ${peerId.a}`);
    const restored = await nodes.run(['restore', '--data-dir', dir.a, '--from', backup]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain('its next start is a new incarnation');
    running.a = await nodes.start(dir.a);
    expect(await received('a')).toBe(100);

    const badFrames = await sendAfterRestore(10, { a: 100, b: 200 });
    // The pair works again with new URLs.
    await introduce('a', 'b2');
    await introduce('b', 'a2');
    for (const side of ['a', 'b'] as const) await nodes.run(['call', '--data-dir', dir[side], 'send', JSON.stringify(`${otherOf(side)}2`), '5']);
    await eventually('the 5 new messages each way to arrive', async () => (await received('a')) === 105 && (await received('b')) === 205, 30_000);

    for (const side of ['a', 'b'] as const) running[side].child.kill('SIGTERM');
    const stopped = { a: await running.a.exited, b: await running.b.exited };
    expectNoBadFrames(badFrames, stopped);
    expect(stopped.a.stderr).toContain('restored from a backup');
    expect(stopped.a.stderr).toContain('started as a new incarnation');
    expect(stopped.b.stderr).toContain(`peer ${peerId.a} lost its state`);
  }, 240_000);

  it('a backup copied over the store by hand: the rollback is found at the first hello, logged with its ranges on both sides; 30 new sends each way are rejected', async () => {
    const { dir, running, peerId, backup, received, sendAfterRestore } = await pairWithBackup('b');
    running.b.child.kill('SIGTERM');
    expect(await running.b.exited).toMatchObject({ code: 0 });
    const store = dataDirFiles(dir.b).store;
    for (const file of [`${store}-wal`, `${store}-shm`]) rmSync(file, { force: true });
    copyFileSync(backup, store);
    running.b = await nodes.start(dir.b);
    expect(await received('b')).toBe(100);

    const badFrames = await sendAfterRestore(30, { a: 200, b: 100 });
    for (const side of ['a', 'b'] as const) running[side].child.kill('SIGTERM');
    const stopped = { a: await running.a.exited, b: await running.b.exited };
    expectNoBadFrames(badFrames, stopped);
    expect(stopped.b.stderr).toContain(`this node's store is behind peer ${peerId.a}'s: it was rolled back to an older copy`);
    expect(stopped.b.stderr).toMatch(/"forgottenSends":\[\d+,\d+\]/);
    expect(stopped.a.stderr).toContain(`peer ${peerId.b} found its store rolled back to an older copy and started the pair over`);
    expect(stopped.a.stderr).toMatch(/"lostReceives":\[\d+,\d+\]/);
  }, 240_000);
});
