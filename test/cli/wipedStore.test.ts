import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dataDirFiles } from '../../src/config/dataDir.js';
import { eventually, tempDirs } from '../support/nodes.js';
import { ask, countsOf, nodeProcesses } from '../support/nodeCli.js';

const dirs = tempDirs();
const nodes = nodeProcesses();
afterEach(() => {
  nodes.killAll();
  dirs.cleanup();
});

async function init(dir: string): Promise<void> {
  const exit = await nodes.init(dir);
  expect(exit.code, exit.stderr).toBe(0);
}

describe('a wiped store over libp2p, two node processes', () => {
  it('comes back under the same peer id as a new incarnation, and its peer detects the amnesia and drops what it owed', async () => {
    const root = dirs.make('ken-wiped-');
    const a = path.join(root, 'a');
    const b = path.join(root, 'b');
    await init(a);
    await init(b);
    const nodeA = await nodes.start(a);
    const peerIdA = ((await ask(a, 'GET', '/status')) as { peerId: string }).peerId;
    const url = (await nodes.run(['url', '--data-dir', a])).stdout.trim();
    const nodeB = await nodes.start(b, ['--peer', `a=${url}`]);
    await eventually('B\'s vat to know A', async () => (await countsOf(b)).peers.includes('a'), 30_000);
    expect((await nodes.run(['call', '--data-dir', b, 'send', '"a"', '5'])).stdout.trim()).toBe('5');
    await eventually('A to receive 5', async () => (await countsOf(a)).received === 5, 30_000);
    await eventually('B\'s outbox to A to drain', async () => (await nodes.outboxTo(b, peerIdA)) === 0, 30_000);

    // A's store is lost; the operator starts it empty, as a new incarnation.
    nodeA.child.kill('SIGKILL');
    await nodeA.exited;
    const files = dataDirFiles(a);
    for (const file of [files.store, `${files.store}-wal`, `${files.store}-shm`]) rmSync(file, { force: true });
    const refused = await nodes.run(['start', '--data-dir', a]);
    expect(refused.code).toBe(1);
    const wipedA = await nodes.start(a, ['--new-incarnation']);
    expect(await ask(a, 'GET', '/status')).toMatchObject({ peerId: peerIdA });

    // B's next messages meet the new incarnation: B learns that A forgot
    // everything, drops what it owed the old A, and says so.
    expect((await nodes.run(['call', '--data-dir', b, 'send', '"a"', '3'])).stdout.trim()).toBe('8');
    await eventually('B to drop its outbox to the wiped A', async () => (await nodes.outboxTo(b, peerIdA)) === 0, 30_000);
    expect((await countsOf(a)).received).toBe(0); // a fresh vat: nothing of the old reached it

    for (const node of [wipedA, nodeB]) node.child.kill('SIGTERM');
    const [stoppedA, stoppedB] = await Promise.all([wipedA.exited, nodeB.exited]);
    expect(stoppedA.code).toBe(0);
    expect(stoppedB.code).toBe(0);
    expect(stoppedB.stderr).toContain(`peer ${peerIdA} lost its state`);
  }, 240_000);
});
