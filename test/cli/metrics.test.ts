import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpProxy } from '../../src/fault/tcpProxy.js';
import { formatOcapUrl, parseOcapUrl } from '../../src/remote/ocapUrl.js';
import { freePort } from '../../src/util/ports.js';
import { eventually, tempDirs } from '../support/nodes.js';
import { ask, counterVat, countsOf, nodeProcesses, sample } from '../support/nodeCli.js';

const dirs = tempDirs();
const nodes = nodeProcesses();
const proxies: TcpProxy[] = [];
afterEach(async () => {
  nodes.killAll();
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  dirs.cleanup();
});

async function init(dir: string, port: number, args: string[] = []): Promise<void> {
  const exit = await nodes.run(['init', '--data-dir', dir, '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--bootstrap', counterVat, '--durability', 'process', ...args]);
  expect(exit.code, exit.stderr).toBe(0);
}

const scrape = async (dir: string) => (await ask(dir, 'GET', '/metrics')) as string;

describe('ken-node metrics: a partition seen from /metrics', () => {
  it('the outbox to a partitioned peer grows and keeps its oldest message\'s age, then drains to 0 once healed', async () => {
    const root = dirs.make('ken-metrics-');
    const [a, b] = [path.join(root, 'a'), path.join(root, 'b')];
    // Each node reaches the other only through a proxy: it announces the
    // proxy's address (in its URLs and its hellos), not its own. One way
    // round a proxy is not enough: libp2p opens a node's stream on any
    // connection of the pair, so B dialling A directly (to resend, say)
    // would carry A's frames past the partition.
    const [portA, portB] = [await freePort(), await freePort()];
    const [proxyA, proxyB] = [await TcpProxy.start({ target: { host: '127.0.0.1', port: portA } }), await TcpProxy.start({ target: { host: '127.0.0.1', port: portB } })];
    proxies.push(proxyA, proxyB);
    await init(a, portA, ['--announce', `/ip4/127.0.0.1/tcp/${proxyA.port}`]);
    await init(b, portB, ['--announce', `/ip4/127.0.0.1/tcp/${proxyB.port}`]);
    await nodes.start(b);
    const urlB = parseOcapUrl(((await ask(b, 'POST', '/url', {})) as { url: string }).url);
    expect(urlB.addresses).toEqual([`/ip4/127.0.0.1/tcp/${proxyB.port}/p2p/${urlB.peerId}`]);
    await nodes.start(a, ['--peer', `b=${formatOcapUrl(urlB)}`]);
    await eventually('A\'s bootstrap vat to know B', async () => (await countsOf(a)).peers.includes('b'), 30_000);
    const peer = { peer: urlB.peerId };
    await eventually('A\'s outbox to B to be empty after the introduction', async () => sample(await scrape(a), 'ken_outbox_depth', peer) === 0, 30_000);

    for (const proxy of proxies) proxy.setMode('drop');
    await eventually('A to see B disconnected', async () => sample(await scrape(a), 'ken_peer_connected', peer) === 0, 30_000);
    await ask(a, 'POST', '/call', { method: 'send', args: ['b', 20] });
    // The 20 messages are committed in A's outbox and stay there while the partition lasts.
    let partitioned = '';
    await eventually('A\'s outbox to B to hold the 20 messages', async () => {
      partitioned = await scrape(a);
      return (sample(partitioned, 'ken_outbox_depth', peer) ?? 0) >= 20;
    }, 30_000);
    expect(sample(partitioned, 'ken_outbox_oldest_unacked_age_seconds', peer)).toBeGreaterThan(0);
    expect((await countsOf(b)).received).toBe(0);
    // Another scrape, still partitioned: nothing was lost from the outbox.
    expect(sample(await scrape(a), 'ken_outbox_depth', peer)).toBeGreaterThanOrEqual(20);

    for (const proxy of proxies) proxy.setMode('pass');
    // Depth and age from one scrape: later rows (a GC notice, say) may come and go between two.
    let healed = '';
    await eventually('A\'s outbox to B to drain', async () => {
      healed = await scrape(a);
      return sample(healed, 'ken_outbox_depth', peer) === 0;
    }, 90_000);
    expect(sample(healed, 'ken_outbox_oldest_unacked_age_seconds', peer)).toBe(0);
    expect(sample(healed, 'ken_peer_connected', peer)).toBe(1);
    expect(sample(healed, 'ken_cranks_total')).toBeGreaterThan(0);
    expect(sample(healed, 'ken_commit_duration_seconds_count')).toBeGreaterThan(0);
    await eventually('B to have consumed all 20', async () => (await countsOf(b)).received === 20, 30_000);
  }, 240_000);
});
