import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import type { KenNode } from '../../src/node/node.js';
import { Scheduler } from '../../src/sim/scheduler.js';
import { packageRoot } from '../../src/util/packageRoot.js';
import { bundleVat } from '../../src/vats/bundles.js';
import { startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const jobsVat = (name: string) => bundleVat(path.join(packageRoot, 'examples', 'jobs', `${name}.js`));

interface Job {
  id: number;
  task: string;
  state: string;
  attempt: number;
  worker: string | null;
  result: string | null;
}

/** Lets frames and cranks run until every node is idle (the memory network delivers a `setImmediate` later). */
async function settle(nodes: readonly KenNode[]): Promise<void> {
  let quiet = 0;
  for (let turn = 0; turn < 100_000 && quiet < 3; turn += 1) {
    await new Promise((resolve) => setImmediate(resolve));
    quiet = nodes.every((node) => !node.kernel.busy) ? quiet + 1 : 0;
  }
}

/** Moves the nodes' virtual clock on by `ms`, letting what each alarm starts run. */
async function advance(scheduler: Scheduler, nodes: readonly KenNode[], ms: number): Promise<void> {
  const end = scheduler.now + ms;
  scheduler.after(ms, 'test', () => {});
  for (let events = 0; events < 10_000 && (scheduler.peekTime() ?? Infinity) <= end; events += 1) {
    scheduler.runNext();
    await settle(nodes);
  }
}

describe('the job-queue example (examples/jobs, docs/writing-vats.md): three nodes, in memory, on virtual time', () => {
  it('dispatches jobs to workers on two other nodes, gives a timed-out job to another worker, and is upgraded with its queue', async () => {
    const network = new MemoryNetwork();
    const scheduler = new Scheduler();
    const nodes: KenNode[] = [];
    for (const name of ['n1', 'n2', 'n3']) {
      const { node } = await startNode({ dir: dirs.make(`ken-jobs-${name}-`), transport: { kind: 'memory', network, peerId: name }, clock: scheduler.clockFor(name) });
      nodes.push(node);
    }
    const [n1, n2, n3] = nodes as [KenNode, KenNode, KenNode];
    const services = (node: KenNode) => ({ timer: node.services.timer, ocapUrls: node.services.ocapUrls });
    await n1.kernel.createVat({ name: 'dispatcher', bundle: await jobsVat('dispatcher'), parameters: { ...services(n1), timeoutMs: 2_000 } });
    for (const [node, name] of [[n2, 'n2'], [n3, 'n3']] as const) {
      await node.kernel.createVat({ name: 'worker', bundle: await jobsVat('worker'), parameters: { ...services(node), name, workMs: 500 }, runtime: 'lean' });
    }
    const dispatcher = n1.kernel.rootOf('dispatcher');
    const call = async (node: KenNode, target: object, method: string, ...args: unknown[]) => {
      const result = node.kernel.call(target, method, args);
      await settle(nodes);
      return result;
    };
    const jobs = async () => ((await call(n1, dispatcher, 'status')) as { jobs: Job[] }).jobs;

    const joinUrl = (await call(n1, dispatcher, 'joinUrl', 60_000)) as string;
    expect(await call(n2, n2.kernel.rootOf('worker'), 'join', joinUrl)).toBe('welcome, n2');
    expect(await call(n3, n3.kernel.rootOf('worker'), 'join', joinUrl)).toBe('welcome, n3');
    for (const task of ['a', 'b', 'c']) await call(n1, dispatcher, 'submit', task);
    await advance(scheduler, nodes, 1_200);
    expect((await jobs()).map((job) => `${job.task}:${job.state}:${job.result}`)).toEqual(['a:done:n2 did a', 'b:done:n3 did b', 'c:done:n2 did c']);

    // n3 becomes too slow: its job times out and goes to n2; n3's late report is told so.
    await call(n3, n3.kernel.rootOf('worker'), 'setWorkMs', 5_000);
    await call(n1, dispatcher, 'submit', 'd');
    await call(n1, dispatcher, 'submit', 'e');
    await advance(scheduler, nodes, 6_000);
    expect((await jobs()).slice(3)).toMatchObject([
      { task: 'd', state: 'done', result: 'n2 did d', attempt: 1 },
      { task: 'e', state: 'done', result: 'n2 did e', attempt: 2 },
    ]);
    expect(await call(n3, n3.kernel.rootOf('worker'), 'log')).toContainEqual({ task: 'e', answer: 'too late: the job was given to another worker' });
    // The late worker is free again once it reported.
    expect([...((await call(n1, dispatcher, 'status')) as { idle: string[] }).idle].sort()).toEqual(['n2', 'n3']);

    // The upgrade keeps the queue and the workers; the join URL expired meanwhile.
    await expect(n1.kernel.upgradeVat('dispatcher', await jobsVat('dispatcherV2'))).resolves.toMatchObject({ name: 'dispatcher' });
    expect(await call(n1, dispatcher, 'stats')).toEqual({ queued: 0, running: 0, done: 5, cancelled: 0 });
    await advance(scheduler, nodes, 60_000);
    await expect(call(n2, n2.kernel.rootOf('worker'), 'join', joinUrl)).rejects.toThrow(/ocap URL refused: it expired at/);
    await call(n1, dispatcher, 'submit', 'f');
    await advance(scheduler, nodes, 1_000);
    expect((await jobs()).at(-1)).toMatchObject({ task: 'f', state: 'done' });
    for (const node of nodes) await node.stop();
  });
});
