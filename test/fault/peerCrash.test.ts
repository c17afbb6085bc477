import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyWorkload } from '../../src/workload/localWorkload.js';
import { exitOf, spawnCli, type Exit } from '../support/cli.js';
import { startTestKernel } from '../support/harness.js';
import { tempDirs } from '../support/nodes.js';
import { freePort } from '../../src/util/ports.js';
import { seededRandom, testSeed } from '../../src/util/random.js';

const dirs = tempDirs();
const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  dirs.cleanup();
});

interface Runner {
  name: string;
  args: string[];
  child: ChildProcess;
  exited: Promise<Exit>;
  /** Settles once the child printed its ready line (its vats restarted), or exited. */
  ready: Promise<void>;
  /** The frames from the peer consumed here, from the child's latest progress line (the store's count: it only grows). */
  received: number;
  last: Exit | undefined;
}

function spawnRunner(runner: { name: string; args: string[] }): Runner {
  const child = spawnCli(runner.args);
  children.add(child);
  const exited = exitOf(child).then((exit) => {
    children.delete(child);
    return exit;
  });
  let started: Runner | undefined;
  const ready = new Promise<void>((resolve) => {
    let seen = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(' ready')) resolve();
      const counts = [...seen.matchAll(/received (\d+) frames/g)];
      if (counts.length > 0 && started) started.received = Number(counts.at(-1)![1]);
      seen = seen.slice(seen.lastIndexOf('\n') + 1 || 0);
    });
    void exited.then(() => resolve());
  });
  started = { ...runner, child, exited, ready, received: 0, last: undefined };
  void exited.then((exit) => (started.last = exit));
  return started;
}

function describeExit(exit: Exit): string {
  return `${exit.signal ?? `exit ${exit.code}`}; last lines:\n${exit.stderr.trim().split('\n').slice(-4).join('\n')}`;
}

/**
 * Two real node processes over libp2p on loopback, each sending numbered
 * messages to a recorder vat on the other; the test SIGKILLs either of them
 * at seeded random instants and restarts it on the same store.
 */
describe.each([
  { transport: 'tcp', messages: 5000, kills: 10 },
  { transport: 'ws', messages: 1000, kills: 4 },
])('two node processes over libp2p $transport, killed and restarted', ({ transport, messages, kills }) => {
  it(`consume all ${messages} messages each way exactly once, in order, across ${kills} kills`, async () => {
    const seed = testSeed();
    console.log(`peer crash (${transport}): seed ${seed} (replay: KEN_SEED=${seed} npx vitest run test/fault/peerCrash.test.ts)`);
    const random = seededRandom(seed);
    const root = dirs.make(`ken-peers-${transport}-`);
    const names = ['a', 'b'] as const;
    const ports = { a: await freePort(), b: await freePort() };
    const argsOf = (name: 'a' | 'b') => {
      const other = name === 'a' ? 'b' : 'a';
      return [
        'peer-workload',
        '--data-dir', path.join(root, name),
        '--listen', `/ip4/127.0.0.1/tcp/${ports[name]}${transport === 'ws' ? '/ws' : ''}`,
        '--url-file', path.join(root, `${name}.url`),
        '--peer-url-file', path.join(root, `${other}.url`),
        '--messages', String(messages),
        '--batch', '100',
        '--durability', 'fsync',
        '--linger-ms', '3000',
        '--status-ms', '200',
      ];
    };
    const runners = { a: spawnRunner({ name: 'a', args: argsOf('a') }), b: spawnRunner({ name: 'b', args: argsOf('b') }) };

    // Each kill lands at a seeded point of the run's progress (the frames
    // consumed on both sides), not at a seeded instant: a run that is faster
    // or slower on another machine still takes every kill while it works.
    // The messages alone make 2 × messages frames; results of those whose
    // promise the sender still holds come on top, so every kill point is
    // reached while work is left.
    const total = 2 * messages;
    const killAt = Array.from({ length: kills }, (_, k) => (k === 0 ? 0 : Math.round(random() * 0.9 * total))).sort((x, y) => x - y);
    const received = { a: 0, b: 0 };
    const progress = () => {
      for (const name of names) received[name] = Math.max(received[name], runners[name].received);
      return received.a + received.b;
    };
    const killDeadline = Date.now() + 180_000;
    let done = 0;
    for (const threshold of killAt) {
      while (progress() < threshold && Date.now() < killDeadline && names.some((name) => runners[name].last === undefined)) await sleep(20);
      // A node may finish on its own while the kill waits for it: then the other one takes it.
      for (let tries = 0; tries < 4 && Date.now() < killDeadline; tries += 1) {
        const running = names.filter((name) => runners[name].last === undefined);
        if (running.length === 0) {
          for (const name of names) console.log(`  node ${name} ended before kill ${done + 1}: ${describeExit(runners[name].last!)}`);
          break;
        }
        const name = running[Math.floor(random() * running.length)]!;
        const runner = runners[name];
        // The first kill may land in start-up; later ones once the node has
        // restarted its vats, a seeded moment (about one progress line) later.
        if (done > 0) await runner.ready;
        await sleep(Math.round(random() * 250));
        if (runner.last !== undefined) {
          console.log(`  node ${name} ended before kill ${done + 1}: ${describeExit(runner.last)}`);
          continue;
        }
        runner.child.kill('SIGKILL');
        const exit = await runner.exited;
        done += 1;
        console.log(`  kill ${done} at ${progress()}/${total} frames: node ${name} -> ${exit.signal ?? `exit ${exit.code}`}; last line: ${exit.stderr.trim().split('\n').at(-1)}`);
        runners[name] = spawnRunner({ name, args: argsOf(name) });
        break;
      }
    }
    const running = names.filter((name) => runners[name].last === undefined);
    expect(done, `only ${done} kills landed (seed ${seed}); progress ${progress()}/${total} frames, still running: ${running.join(', ') || 'none'} (running with no progress: a stall)`).toBe(kills);

    // Let both finish; a node that finished while its peer still needs its acks is started again.
    const deadline = Date.now() + 120_000;
    for (let restarts = 0; Date.now() < deadline; ) {
      if (runners.a.last !== undefined && runners.b.last !== undefined) break;
      await sleep(200);
      for (const name of names) {
        const runner = runners[name];
        const other = runners[name === 'a' ? 'b' : 'a'];
        if (runner.last !== undefined && other.last === undefined && restarts < 10) {
          await sleep(3000);
          if (other.last === undefined) {
            restarts += 1;
            runners[name] = spawnRunner({ name, args: argsOf(name) });
          }
        }
      }
    }
    if (runners.a.last === undefined || runners.b.last === undefined) {
      for (const name of names) runners[name].child.kill('SIGKILL');
      for (const name of names) {
        const exit = await runners[name].exited;
        console.log(`node ${name} did not finish; its last lines:\n${exit.stderr.trim().split('\n').slice(-6).join('\n')}`);
      }
      expect.fail(`the nodes did not finish within the deadline (seed ${seed})`);
    }
    for (const name of names) {
      const exit = await runners[name].exited;
      expect(exit.code, `node ${name}: ${exit.stderr}`).toBe(0);
      expect(JSON.parse(exit.stdout.trim().split('\n').at(-1)!)).toMatchObject({ exactlyOnceInOrder: true, outbox: 0, consumed: messages });
    }
    // Each store, read independently of the children's verdicts.
    for (const name of names) {
      const { kernel } = await startTestKernel({ path: path.join(root, name, 'kernel.sqlite') });
      expect(await verifyWorkload(kernel, messages)).toEqual({ consumed: messages, exactlyOnceInOrder: true });
      kernel.close();
    }
  }, 300_000);
});
