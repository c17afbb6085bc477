import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { maxJoinedNotifyBytes } from '../../src/remote/router.js';
import { testVat } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

/** Nodes named `names` on one in-memory network, each with a `peer` vat whose root is shared by URL. */
async function cluster(names: string[], network = new MemoryNetwork()) {
  const nodes = [];
  for (const name of names) {
    const dir = dirs.make(`ken-${name}-`);
    const { node, logger } = await startNode({ dir, transport: { kind: 'memory', network, peerId: name } });
    await node.kernel.createVat({ name: 'peer', bundle: await testVat('peer'), parameters: { ocapUrls: node.services.ocapUrls } });
    const url = await node.issueUrl(node.kernel.rootOf('peer'));
    nodes.push({ name, dir, node, logger, url });
  }
  return { network, nodes };
}

/** The bodies of the `notify` messages `from` sent since the network's `since`th frame. */
function notifyBodies(network: MemoryNetwork, from: string, since: number) {
  return network.wire
    .slice(since)
    .filter((record) => record.from === from)
    .map((record) => JSON.parse(new TextDecoder().decode(record.frame)) as { type: string; body?: { kind: string; resolutions: unknown[] } })
    .filter((frame) => frame.type === 'msg' && frame.body?.kind === 'notify')
    .map((frame) => frame.body!);
}

describe('cross-node semantics (in-memory transport)', () => {
  it('returns results and rejections across nodes', async () => {
    const { nodes } = await cluster(['A', 'B']);
    const [a, b] = nodes;
    const remoteB = await a!.node.redeemUrl(b!.url);
    const rootA = a!.node.kernel.rootOf('peer');
    expect(await a!.node.kernel.call(rootA, 'call', [remoteB, 'echo', { deep: ['data', 1n] }])).toEqual({ deep: ['data', 1n] });
    await expect(a!.node.kernel.call(rootA, 'call', [remoteB, 'fail', 'no such luck'])).rejects.toThrow('no such luck');
    await expect(a!.node.kernel.call(rootA, 'call', [remoteB, 'noSuchMethod'])).rejects.toThrow(/noSuchMethod/);
    for (const { node } of nodes) await node.stop();
  });

  it('joins results that follow one another into one notify frame, in order, within the bound a frame of them may take', async () => {
    const { network, nodes } = await cluster(['A', 'B']);
    const [a, b] = nodes;
    const remoteB = await a!.node.redeemUrl(b!.url);
    const rootA = a!.node.kernel.rootOf('peer');
    const burst = async (values: string[]) => {
      const before = network.wire.length;
      // Queued together: A sends them in one run, B consumes them in one receive crank and delivers them one after another.
      const results = values.map((value) => a!.node.kernel.queueToKref(rootA, 'call', [remoteB, 'echo', value]));
      void a!.node.kernel.run();
      expect(await Promise.all(results)).toEqual(values);
      return notifyBodies(network, 'B', before);
    };
    const small = await burst(Array.from({ length: 20 }, (_, index) => `v${index}`));
    expect(small.flatMap((body) => body.resolutions)).toHaveLength(20);
    expect(small.length).toBeLessThan(20);
    for (const body of small) expect(Buffer.byteLength(JSON.stringify(body))).toBeLessThanOrEqual(maxJoinedNotifyBytes);
    // Results too large for two to a frame within the bound go one to a frame.
    const large = await burst(Array.from({ length: 4 }, (_, index) => `${index}`.repeat(maxJoinedNotifyBytes / 2)));
    expect(large.map((body) => body.resolutions.length)).toEqual([1, 1, 1, 1]);
    for (const { node } of nodes) await node.stop();
  });

  it('counts the bound on joined results in UTF-8 bytes', async () => {
    // A's messages to B are held while it sends them, then arrive together: B consumes the first, delivers it, then the rest in one crank.
    const held: (() => void)[] = [];
    let holding = false;
    const isDeliver = (frame: Uint8Array) => (JSON.parse(new TextDecoder().decode(frame)) as { body?: { kind: string } }).body?.kind === 'deliver';
    const network = new MemoryNetwork((from, _to, arrive, frame) => {
      if (holding && from === 'A' && isDeliver(frame)) held.push(arrive);
      else setImmediate(arrive);
    });
    const { nodes } = await cluster(['A', 'B'], network);
    const [a, b] = nodes;
    const remoteB = await a!.node.redeemUrl(b!.url);
    const rootA = a!.node.kernel.rootOf('peer');
    const heldBurst = async (values: string[]) => {
      const before = network.wire.length;
      holding = true;
      const results = values.map((value) => a!.node.kernel.queueToKref(rootA, 'call', [remoteB, 'echo', value]));
      void a!.node.kernel.run();
      await eventually(`A sent its ${values.length} messages`, () => held.length === values.length);
      holding = false;
      setImmediate(() => held.splice(0).forEach((arrive) => arrive()));
      expect(await Promise.all(results)).toEqual(values);
      const notifies = notifyBodies(network, 'B', before);
      for (const body of notifies) expect(Buffer.byteLength(JSON.stringify(body))).toBeLessThanOrEqual(maxJoinedNotifyBytes);
      return notifies.map((body) => body.resolutions.length);
    };
    const ascii = 'e'.repeat(295);
    // Two results of ~340 bytes join; one of ~340 and one of ~200 characters but ~440 bytes would pass the bound, so they go apart.
    expect(await heldBurst(['first', ascii, ascii])).toEqual([1, 2]);
    expect(await heldBurst(['first', ascii, 'é'.repeat(200)])).toEqual([1, 1, 1]);
    for (const { node } of nodes) await node.stop();
  });

  it('pipelines a send to an unresolved remote result to its decider', async () => {
    const { network, nodes } = await cluster(['A', 'B']);
    const [a, b] = nodes;
    const remoteB = await a!.node.redeemUrl(b!.url);
    const before = network.wire.length;
    expect(await a!.node.kernel.call(a!.node.kernel.rootOf('peer'), 'pipeline', [remoteB, 'piped'])).toBe('piped:1');
    // Both messages went to B before either result came back: the second targets the first's result.
    const bodies = network.wire
      .slice(before)
      .filter((record) => record.from === 'A')
      .map((record) => JSON.parse(new TextDecoder().decode(record.frame)) as { type: string; body?: { kind: string; target: string; result: string } })
      .filter((frame) => frame.type === 'msg' && frame.body?.kind === 'deliver')
      .map((frame) => frame.body!);
    expect(bodies).toHaveLength(2);
    expect(bodies[1]!.target).toBe(bodies[0]!.result);
    for (const { node } of nodes) await node.stop();
  });

  it('passes a reference to a third node\'s object and messages to it arrive there', async () => {
    const { nodes } = await cluster(['A', 'B', 'C']);
    const [a, b, c] = nodes;
    const rootA = a!.node.kernel.rootOf('peer');
    const remoteB = await a!.node.redeemUrl(b!.url);
    const remoteC = await a!.node.redeemUrl(c!.url);
    const counterOnC = (await a!.node.kernel.call(remoteC, 'makeCounter', ['onC'])) as object;
    // A gives B the counter that lives on C; B calls it.
    expect(await a!.node.kernel.call(rootA, 'introduce', [remoteB, counterOnC])).toBe('onC:1');
    expect(await a!.node.kernel.call(counterOnC, 'increment')).toBe('onC:2');
    for (const { node } of nodes) await node.stop();
  });

  it('lets a bootstrap vat issue and redeem ocap URLs through the kernel service', async () => {
    const { nodes } = await cluster(['A', 'B']);
    const [a, b] = nodes;
    const urlOfB = (await b!.node.kernel.call(b!.node.kernel.rootOf('peer'), 'publish')) as string;
    expect(urlOfB).toMatch(/^ocap:[0-9a-f]{32}@B/);
    expect(await a!.node.kernel.call(a!.node.kernel.rootOf('peer'), 'redeemAndCall', [urlOfB, 'echo', 'via the service'])).toBe(
      'via the service',
    );
    await expect(
      a!.node.kernel.call(a!.node.kernel.rootOf('peer'), 'redeemAndCall', [`ocap:${'cd'.repeat(16)}@B`, 'echo', 1]),
    ).rejects.toThrow(/unknown ocap URL/);
    await expect(a!.node.kernel.call(a!.node.kernel.rootOf('peer'), 'redeemAndCall', ['http://nope', 'echo'])).rejects.toThrow(
      /not an ocap URL/,
    );
    for (const { node } of nodes) await node.stop();
  });

  it('rejects redemption of a swiss number the peer never issued', async () => {
    const { nodes } = await cluster(['A', 'B']);
    const [a] = nodes;
    await expect(a!.node.redeemUrl(`ocap:${'ab'.repeat(16)}@B`)).rejects.toThrow(/unknown ocap URL/);
    await expect(a!.node.redeemUrl('ocap:nothex@B')).rejects.toThrow(/not an ocap URL/);
    for (const { node } of nodes) await node.stop();
  });

  it('detects peer amnesia: the promises the wiped peer decided reject, and the pair starts over', async () => {
    const { network, nodes } = await cluster(['A', 'B']);
    const [a, b] = nodes;
    const rootA = a!.node.kernel.rootOf('peer');
    const remoteB = await a!.node.redeemUrl(b!.url);
    const held = a!.node.kernel.queueToKref(rootA, 'call', [remoteB, 'hold']);
    await a!.node.kernel.run();
    await eventually('B decides the held promise', async () => (await b!.node.kernel.call(b!.node.kernel.rootOf('peer'), 'calls')) === 0);
    await eventually('A outbox acked', () => a!.node.sessions.outboxDepth('B') === 0);

    // B loses its store and comes back under the same peer id with a new incarnation.
    await b!.node.stop();
    const fresh = await startNode({ dir: dirs.make('ken-B-again-'), transport: { kind: 'memory', network, peerId: 'B' } });
    await fresh.node.kernel.createVat({ name: 'peer', bundle: await testVat('peer') });
    // A's next message meets the new B, which says hello with its new incarnation.
    const echo = a!.node.kernel.call(rootA, 'call', [remoteB, 'echo', 'hello?']);
    await expect(held).rejects.toThrow(/lost its state/);
    await expect(echo).rejects.toThrow(/lost its state|was lost/);
    expect(a!.logger.entries.some((entry) => entry.level === 'warn' && entry.message?.includes('lost its state'))).toBe(true);
    // The pair works again with a fresh URL.
    const newUrl = await fresh.node.issueUrl(fresh.node.kernel.rootOf('peer'));
    const newB = await a!.node.redeemUrl(newUrl);
    expect(await a!.node.kernel.call(rootA, 'call', [newB, 'echo', 'again'])).toBe('again');
    await fresh.node.stop();
    await a!.node.stop();
  });
});
