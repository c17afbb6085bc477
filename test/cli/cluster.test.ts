import { execFileSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/util/ports.js';
import { exitOf, spawnCli, type Exit } from '../support/cli.js';
import { countsOf } from '../support/nodeCli.js';
import { eventually, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
let clusterDir: string | undefined;
afterEach(() => {
  // The nodes run in process groups of their own: a failed test must not leave them behind.
  if (clusterDir !== undefined) killMentioning(clusterDir);
  clusterDir = undefined;
  dirs.cleanup();
});

function processesMentioning(text: string): string {
  try {
    return execFileSync('pgrep', ['-af', text], { encoding: 'utf8' });
  } catch {
    return ''; // pgrep exits 1 when nothing matches
  }
}

function killMentioning(text: string): void {
  try {
    execFileSync('pkill', ['-KILL', '-f', text]);
  } catch {
    // nothing left to kill
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The first of `count` consecutive free ports on 127.0.0.1. */
async function freePorts(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = await freePort();
    if (base + count - 1 > 65535) continue;
    let free = true;
    for (let offset = 1; offset < count && free; offset += 1) free = await isFree(base + offset);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports found in 50 tries`);
}

interface RunningCluster {
  child: ChildProcess;
  exited: Promise<Exit>;
  stderr: () => string;
}

async function startCluster(dir: string, basePort: number): Promise<RunningCluster> {
  const child = spawnCli(['cluster', '--dir', dir, '--nodes', '3', '--base-port', String(basePort)]);
  let seen = '';
  child.stderr?.on('data', (chunk: Buffer) => (seen += chunk.toString()));
  const exited = exitOf(child);
  let exit: Exit | undefined;
  void exited.then((value) => (exit = value));
  await eventually('the cluster to be ready', () => {
    if (exit !== undefined) throw new Error(`the cluster exited (${exit.code}) before it was ready:\n${seen}`);
    return seen.includes('cluster: ready');
  }, 90_000);
  return { child, exited, stderr: () => seen };
}

describe('ken-node cluster', () => {
  it('runs three nodes introduced to each other, stops them cleanly on SIGTERM, and starts them again from their stores', async () => {
    const dir = dirs.make('ken-cluster-');
    clusterDir = dir;
    const basePort = await freePorts(3);

    const first = await startCluster(dir, basePort);
    expect(first.stderr().match(/cluster: n\d now knows n\d/g)).toHaveLength(6);
    expect(first.stderr()).toMatch(/n1 +\| .*INFO +node started/);
    const send = await exitOf(spawnCli(['call', '--data-dir', path.join(dir, 'n2'), 'send', '"n1"', '5']));
    expect(send.code, send.stderr).toBe(0);
    await eventually('n1 to consume the 5 messages', async () => (await countsOf(path.join(dir, 'n1'))).received === 5, 30_000);

    first.child.kill('SIGTERM');
    const exit = await first.exited;
    expect(exit.code, exit.stderr).toBe(0);
    for (const name of ['n1', 'n2', 'n3']) expect(exit.stderr).toContain(`cluster: ${name} stopped (exit 0)`);
    expect(processesMentioning(dir)).toBe('');

    // Again on the same directory: the same nodes, from their stores; nobody is introduced twice.
    const second = await startCluster(dir, basePort);
    expect(second.stderr()).not.toContain('now knows');
    expect(second.stderr()).not.toContain('initialized');
    expect((await countsOf(path.join(dir, 'n1'))).received).toBe(5);
    const again = await exitOf(spawnCli(['call', '--data-dir', path.join(dir, 'n3'), 'send', '"n1"', '2']));
    expect(again.code, again.stderr).toBe(0);
    try {
      await eventually('n1 to consume 2 more from n3', async () => (await countsOf(path.join(dir, 'n1'))).received === 7, 30_000).catch((error: unknown) => {
      // What the nodes said since the restart: the reason is in their logs, not in the count.
      throw new Error(`${String(error)}\nthe cluster's log since the restart, last 80 lines:\n${second.stderr().split('\n').slice(-80).join('\n')}`);
    });
    } catch (error) {
      console.log('CLUSTERLOG\n', second.stderr());
      throw error;
    }
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(processesMentioning(dir)).toBe('');
  }, 240_000);

  it('refuses bad flags with exit code 2', async () => {
    const dir = dirs.make('ken-cluster-bad-');
    for (const [args, message] of [
      [['--nodes', '1'], '--nodes: expected 2 or more'],
      [['--base-port', '70000'], 'expected a port from 1 to 65535'],
      [['--transport', 'udp'], 'expected tcp or ws'],
    ] as const) {
      const exit = await exitOf(spawnCli(['cluster', '--dir', dir, ...args]));
      expect(exit.code, exit.stderr).toBe(2);
      expect(exit.stderr).toContain(message);
    }
  });
});
