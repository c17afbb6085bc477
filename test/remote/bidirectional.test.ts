import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { exampleVat } from '../support/harness.js';
import { eventually, startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

describe('two nodes sending to each other at once (in-memory transport)', () => {
  it('consume every message exactly once, in order, and drain both outboxes', async () => {
    const network = new MemoryNetwork();
    const nodes = [];
    for (const name of ['A', 'B']) {
      const { node } = await startNode({ dir: dirs.make(`ken-${name}-`), transport: { kind: 'memory', network, peerId: name } });
      await node.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
      await node.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
      nodes.push(node);
    }
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const urlA = await a.issueUrl(a.kernel.rootOf('recorder'));
    const urlB = await b.issueUrl(b.kernel.rootOf('recorder'));
    await a.kernel.call(a.kernel.rootOf('sender'), 'setTarget', [await a.redeemUrl(urlB)]);
    await b.kernel.call(b.kernel.rootOf('sender'), 'setTarget', [await b.redeemUrl(urlA)]);
    const messages = 2000;
    await Promise.all(
      [a, b].map(async (node) => {
        for (let round = 0; round < 20; round += 1) {
          await node.kernel.call(node.kernel.rootOf('sender'), 'sendBatchToTarget', [100, messages]);
        }
      }),
    );
    for (const node of [a, b]) {
      const recorder = node.kernel.rootOf('recorder');
      await eventually(`${node.peerId} consumed ${messages}`, async () => (await node.kernel.call(recorder, 'count')) === messages);
      expect(await node.kernel.call(recorder, 'entries')).toEqual(Array.from({ length: messages }, (_, i) => i + 1));
    }
    await eventually('both outboxes drained', () => a.sessions.outboxDepth('B') === 0 && b.sessions.outboxDepth('A') === 0, 10_000);
    await a.stop();
    await b.stop();
  });

  // The bench's warm-up (peer-workload --warmup) waits on this: the count is asked after the sends, so answered after they are consumed.
  it.each(['liveslots', 'lean'] as const)('answer the sender\'s targetCount after every message sent before it (%s)', async (runtime) => {
    const network = new MemoryNetwork();
    const nodes = [];
    for (const name of ['A', 'B']) {
      const { node } = await startNode({ dir: dirs.make(`ken-${name}-`), transport: { kind: 'memory', network, peerId: name } });
      await node.kernel.createVat({ name: name === 'A' ? 'sender' : 'recorder', bundle: await exampleVat(name === 'A' ? 'sender' : 'recorder'), runtime });
      nodes.push(node);
    }
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const sender = a.kernel.rootOf('sender');
    await a.kernel.call(sender, 'setTarget', [await a.redeemUrl(await b.issueUrl(b.kernel.rootOf('recorder')))]);
    for (let round = 0; round < 3; round += 1) await a.kernel.call(sender, 'sendBatchToTarget', [100, 300]);
    expect(await a.kernel.call(sender, 'targetCount')).toBe(300);
    // Answered by the peer, so its recorder holds them all by now.
    expect(await b.kernel.call(b.kernel.rootOf('recorder'), 'count')).toBe(300);
    await a.stop();
    await b.stop();
  });
});
