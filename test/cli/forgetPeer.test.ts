import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, tempDirs } from '../support/nodes.js';
import { ask, countsOf, nodeProcesses } from '../support/nodeCli.js';

const dirs = tempDirs();
const nodes = nodeProcesses();
afterEach(() => {
  nodes.killAll();
  dirs.cleanup();
});

interface PeerRow {
  peerId: string;
  forgotten: string | null;
  outboxDepth: number;
}

describe('ken-node peers --forget, two node processes over libp2p', () => {
  it('drops a vanished peer\'s outbox, rejecting what it owed, says what it dropped, and keeps it forgotten across a restart', async () => {
    const root = dirs.make('ken-forget-');
    const [a, b] = [path.join(root, 'a'), path.join(root, 'b')];
    for (const dir of [a, b]) expect((await nodes.init(dir)).code).toBe(0);
    const nodeB = await nodes.start(b);
    const peerIdB = ((await ask(b, 'GET', '/status')) as { peerId: string }).peerId;
    const urlB = (await nodes.run(['url', '--data-dir', b])).stdout.trim();
    const nodeA = await nodes.start(a, ['--peer', `b=${urlB}`]);
    await eventually('A\'s vat to know B', async () => (await countsOf(a)).peers.includes('b'), 30_000);

    // B is gone for good; A's 5 messages to it wait in A's outbox.
    nodeB.child.kill('SIGKILL');
    await nodeB.exited;
    expect((await nodes.run(['call', '--data-dir', a, 'send', '"b"', '5'])).stdout.trim()).toBe('5');
    expect(await nodes.outboxTo(a, peerIdB)).toBe(5);

    const unknown = await nodes.run(['peers', '--data-dir', a, '--forget', 'nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no peer named "nobody" in the config, and no peer with that id');
    const both = await nodes.run(['peers', '--data-dir', a, '--forget', 'b', '--add', `c=${urlB}`]);
    expect(both.code, both.stderr).toBe(2);
    expect(both.stderr).toContain('cannot be used with option');

    // By its name in the config: the 5 results are rejected, the 5 rows dropped.
    const forgot = await nodes.run(['peers', '--data-dir', a, '--forget', 'b']);
    expect(forgot.code, forgot.stderr).toBe(0);
    const dropped = JSON.parse(forgot.stdout) as { peerId: string; rejectedPromises: number; droppedMessages: number; droppedSeqs: [number, number] };
    expect(dropped).toMatchObject({ peerId: peerIdB, droppedMessages: 5 });
    expect(dropped.rejectedPromises).toBeGreaterThanOrEqual(5);
    expect(dropped.droppedSeqs[1] - dropped.droppedSeqs[0]).toBe(4);
    const again = await nodes.run(['peers', '--data-dir', a, '--forget', peerIdB]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('is forgotten already');

    const peersOf = async () => JSON.parse((await nodes.run(['peers', '--data-dir', a])).stdout) as PeerRow[];
    expect((await peersOf()).find((peer) => peer.peerId === peerIdB)).toMatchObject({ forgotten: `peer ${peerIdB} was forgotten by this node's operator`, outboxDepth: 0 });
    nodeA.child.kill('SIGTERM');
    const stopped = await nodeA.exited;
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).toContain(`peer ${peerIdB} was forgotten by this node's operator: its promises were rejected and its outbox dropped`);

    // Forgotten for good: after a restart too, and nothing more is queued for it.
    await nodes.start(a);
    expect((await peersOf()).find((peer) => peer.peerId === peerIdB)).toMatchObject({ forgotten: expect.stringContaining('forgotten'), outboxDepth: 0 });
    await nodes.run(['call', '--data-dir', a, 'send', '"b"', '3']);
    expect(await nodes.outboxTo(a, peerIdB)).toBe(0);
  }, 120_000);
});
