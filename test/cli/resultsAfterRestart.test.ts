import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminClientError } from '../../src/admin/client.js';
import { packageRoot } from '../../src/util/packageRoot.js';
import { eventually, tempDirs } from '../support/nodes.js';
import { ask, nodeProcesses } from '../support/nodeCli.js';

const dirs = tempDirs();
const nodes = nodeProcesses();
afterEach(() => {
  nodes.killAll();
  dirs.cleanup();
});

/** A vat with `hold()` (a promise it never settles) and `redeemAndCall(url, method)`. */
const peerVat = path.join(packageRoot, 'test', 'vats', 'peer.js');

/** What "within the resend interval" allows: the first resend is 1 s after the restart; the rest is the dial. */
const deliveryMs = 10_000;

describe('results owed by a restarted node to a peer that dialled in and went idle (two node processes)', () => {
  it('reach the peer within the resend interval: the node dials the address the peer announced in its hello', async () => {
    const root = dirs.make('ken-idle-sender-');
    const [a, b] = [path.join(root, 'a'), path.join(root, 'b')];
    for (const dir of [a, b]) expect((await nodes.init(dir, { bootstrap: peerVat })).code).toBe(0);
    await nodes.start(a);
    const nodeB = await nodes.start(b);
    const peerIdA = ((await ask(a, 'GET', '/status')) as { peerId: string }).peerId;
    const peerIdB = ((await ask(b, 'GET', '/status')) as { peerId: string }).peerId;
    // B's URL names B's addresses; nothing tells B where A is but A's hello.
    const urlB = (await nodes.run(['url', '--data-dir', b])).stdout.trim();
    expect(await ask(a, 'POST', '/call', { method: 'redeemAndCall', args: [urlB, 'echo', 'hi'] })).toEqual({ result: 'hi' });

    // A asks B for a result B will owe for as long as it runs; then A owes nothing and goes idle.
    const held = ask(a, 'POST', '/call', { method: 'redeemAndCall', args: [urlB, 'hold'] }).then(
      (value) => ({ settled: 'fulfilled' as const, value }),
      (error: unknown) => ({ settled: 'rejected' as const, error }),
    );
    await eventually('both outboxes to be empty (A\'s call delivered and acked)', async () =>
      (await nodes.outboxTo(a, peerIdB)) === 0 && (await nodes.outboxTo(b, peerIdA)) === 0 && (await nodes.run(['peers', '--data-dir', b])).stdout.includes(peerIdA),
    30_000);

    // B restarts: its vat's heap is gone, so the held promise is rejected, and
    // the rejection is a notify B owes A, committed in B's outbox at its start.
    nodeB.child.kill('SIGKILL');
    await nodeB.exited;
    await nodes.start(b);
    const restartedAt = Date.now();
    const outcome = await held;
    expect(outcome.settled).toBe('rejected');
    const error = (outcome as { error: unknown }).error;
    expect(error).toBeInstanceOf(AdminClientError);
    expect((error as Error).message).toMatch(/was lost: vat v1, its decider, restarted/);
    expect(Date.now() - restartedAt).toBeLessThan(deliveryMs);
    await eventually('B\'s outbox to A to drain', async () => (await nodes.outboxTo(b, peerIdA)) === 0, deliveryMs);
  }, 120_000);
});
