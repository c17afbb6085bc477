import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readAdminEndpoint } from '../../src/admin/endpointFile.js';
import { dataDirFiles } from '../../src/config/dataDir.js';
import { eventually, tempDirs } from '../support/nodes.js';
import { ask, askWithToken, countsOf, nodeProcesses } from '../support/nodeCli.js';

const dirs = tempDirs();
const nodes = nodeProcesses();
afterEach(() => {
  nodes.killAll();
  dirs.cleanup();
});

/** `init` a node listening on a free loopback port, with the counter vat as its bootstrap vat; its peer id. */
async function init(dir: string): Promise<string> {
  const exit = await nodes.init(dir);
  expect(exit.stderr).toBe('');
  expect(exit.code).toBe(0);
  const peerId = /peer id +(\S+)/.exec(exit.stdout)?.[1];
  expect(peerId).toBeDefined();
  return peerId as string;
}

describe('ken-node CLI: two nodes from init to a clean stop', () => {
  it('init, start, status, url; a second node redeems the URL and messages flow; SIGTERM exits 0; a restart finds its state', async () => {
    const root = dirs.make('ken-cli-');
    const a = path.join(root, 'a');
    const b = path.join(root, 'b');
    const peerIdA = await init(a);
    // The token is for the node's user alone.
    expect(statSync(dataDirFiles(a).adminToken).mode & 0o777).toBe(0o600);
    expect((await nodes.run(['init', '--data-dir', a])).code).toBe(1); // already initialized

    const nodeA = await nodes.start(a);
    const status = await nodes.run(['status', '--data-dir', a]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ peerId: peerIdA, bootstrapVat: 'bootstrap', durability: 'fsync', peers: [] });

    // One node per data directory: a second start is refused, and the first keeps its endpoint.
    const second = await nodes.run(['start', '--data-dir', a]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`a node is already running on ${a}`);
    expect(readAdminEndpoint(dataDirFiles(a).adminEndpoint)?.pid).toBe(nodeA.child.pid);

    // The real process refuses requests without the token, or with a wrong one.
    const wrongToken = 'f'.repeat(64);
    expect((await askWithToken(a, undefined, 'GET', '/status')).status).toBe(401);
    expect((await askWithToken(a, wrongToken, 'GET', '/metrics')).status).toBe(401);
    expect((await askWithToken(a, wrongToken, 'POST', '/url', {})).status).toBe(401);

    const issued = await nodes.run(['url', '--data-dir', a]);
    expect(issued.code).toBe(0);
    const url = issued.stdout.trim();
    expect(url).toMatch(new RegExp(`^ocap:[0-9a-f]{32}@${peerIdA},/ip4/127\\.0\\.0\\.1/tcp/`));

    // B is told A's URL by a flag: it redeems it and hands the presence to its bootstrap vat.
    await init(b);
    const nodeB = await nodes.start(b, ['--peer', `a=${url}`]);
    await eventually('B\'s bootstrap vat to know A', async () => (await countsOf(b)).peers.includes('a'), 30_000);
    const sent = await nodes.run(['call', '--data-dir', b, 'send', '"a"', '5']);
    expect(sent.stderr).toBe('');
    expect(sent.stdout.trim()).toBe('5');
    await eventually('A to receive 5 messages', async () => (await countsOf(a)).received === 5, 30_000);
    await eventually('B\'s outbox to A to drain', async () => {
      const peers = JSON.parse((await nodes.run(['peers', '--data-dir', b])).stdout) as { peerId: string; outboxDepth: number }[];
      return peers.length === 1 && peers[0]?.peerId === peerIdA && peers[0].outboxDepth === 0;
    }, 30_000);

    // A clean stop: exit code 0, not a signal death, and the endpoint file is gone.
    nodeA.child.kill('SIGTERM');
    const stopped = await nodeA.exited;
    expect(stopped.signal).toBeNull();
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).toContain('"msg":"stopped"');
    expect(existsSync(dataDirFiles(a).adminEndpoint)).toBe(false);
    expect((await nodes.run(['status', '--data-dir', a])).code).toBe(1); // nobody to ask

    // The restarted node is the same peer with the same vat state, and B reaches it again.
    const restartedA = await nodes.start(a);
    expect(await ask(a, 'GET', '/status')).toMatchObject({ peerId: peerIdA });
    expect((await countsOf(a)).received).toBe(5);
    expect((await nodes.run(['call', '--data-dir', b, 'send', '"a"', '3'])).stdout.trim()).toBe('8');
    await eventually('A to receive 3 more', async () => (await countsOf(a)).received === 8, 60_000);

    for (const node of [restartedA, nodeB]) {
      node.child.kill('SIGTERM');
      expect(await node.exited).toMatchObject({ code: 0, signal: null });
    }
  }, 240_000);
});
