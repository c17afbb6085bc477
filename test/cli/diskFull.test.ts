import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/packageRoot.js';
import { exitOf, type Exit } from '../support/cli.js';
import { eventually, tempDirs } from '../support/nodes.js';
import { ask, countsOf, nodeProcesses } from '../support/nodeCli.js';

const dirs = tempDirs();
const nodes = nodeProcesses();
afterEach(() => {
  nodes.killAll();
  dirs.cleanup();
});

/** The filesystem the store fills: room for the store as `init` and a first run leave it, and little more. */
const tinyFilesystem = '3m';

/** Mounting a filesystem needs root; a mount namespace of the test's own keeps it from everyone else and ends with it. */
const canMount = process.getuid?.() === 0;

async function init(dir: string): Promise<void> {
  const exit = await nodes.init(dir);
  expect(exit.code, exit.stderr).toBe(0);
}

/**
 * Runs `ken-node start` on a copy of `dir` on a tmpfs of {@link tinyFilesystem}
 * mounted on `mountPoint` in a mount namespace of its own, and copies the
 * data directory back to `dir` once the node has exited (the tmpfs ends
 * with the namespace). The host sees the node's data directory as
 * `view`, through the namespace's root in /proc, which is how the
 * clients find its admin endpoint.
 */
async function startOnTinyFilesystem(dir: string, mountPoint: string): Promise<{ view: string; exited: Promise<Exit> }> {
  const bin = path.join(packageRoot, 'bin', 'ken-node.js');
  const script = [
    'mount -t tmpfs -o "size=$1,mode=0700" tmpfs "$3" || exit 97',
    'cp -a "$2/." "$3/" || exit 98',
    '"$4" "$5" start --data-dir "$3"; code=$?',
    'rm -f "$3/admin.json"; cp -a "$3/." "$2/" || exit 99',
    'exit $code',
  ].join('\n');
  // unshare execs the shell in the new namespace: its pid is the namespace's, and it outlives the node to copy the store back.
  const child = spawn('unshare', ['-m', 'sh', '-c', script, 'sh', tinyFilesystem, dir, mountPoint, process.execPath, bin], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = exitOf(child);
  let exit: Exit | undefined;
  void exited.then((value) => (exit = value));
  const view = `/proc/${child.pid}/root${mountPoint}`;
  await eventually('the node on the tiny filesystem to serve its admin endpoint', async () => {
    if (exit !== undefined) throw new Error(`it exited (${exit.code}) before it served:\n${exit.stderr}`);
    return (await ask(view, 'GET', '/status').catch(() => undefined)) !== undefined;
  }, 60_000);
  return { view, exited };
}

describe.runIf(canMount)('a disk that fills up under a running node (a tmpfs in a mount namespace)', () => {
  it('stops the node cleanly with a storage error, commits nothing of the failed crank, and the store is intact after a restart', async () => {
    const root = dirs.make('ken-disk-full-');
    const a = path.join(root, 'a');
    const b = path.join(root, 'b');
    const tiny = path.join(root, 'tiny');
    mkdirSync(tiny, { mode: 0o700 });
    await init(a);
    await init(b);
    // B runs for A's vat to redeem its URL; it is down while A fills its disk.
    const firstB = await nodes.start(b);
    const peerIdB = ((await ask(b, 'GET', '/status')) as { peerId: string }).peerId;
    const urlB = (await nodes.run(['url', '--data-dir', b])).stdout.trim();
    const setup = await nodes.start(a, ['--peer', `b=${urlB}`]);
    await eventually('A\'s vat to know B', async () => (await countsOf(a)).peers.includes('b'), 30_000);
    firstB.child.kill('SIGTERM');
    expect(await firstB.exited).toMatchObject({ code: 0 });
    expect((await nodes.run(['call', '--data-dir', a, 'send', '"b"', '5'])).stdout.trim()).toBe('5');
    setup.child.kill('SIGTERM');
    expect(await setup.exited).toMatchObject({ code: 0 });

    // One crank whose writes (thousands of outbox rows) do not fit.
    const full = await startOnTinyFilesystem(a, tiny);
    const flood = await nodes.run(['call', '--data-dir', full.view, 'send', '"b"', '9000']);
    expect(flood.code, flood.stdout).toBe(1);
    const stopped = await full.exited;
    expect(stopped.code, stopped.stderr).toBe(1);
    expect(stopped.stderr).toContain('SQLITE_FULL');
    expect(stopped.stderr).toContain('storage error: the kernel stopped, committing nothing of its open transaction');
    expect(stopped.stderr).not.toMatch(/kernel panic|bad frame|vat failed/);

    // On a disk with room: the store holds the last commit whole and the
    // failed crank not at all. The vat's crank (9000 sends queued) may or
    // may not have been the one that failed; whichever it was, what the vat
    // committed as sent is what B consumes, each message once.
    const restarted = await nodes.start(a);
    const { sent } = await countsOf(a);
    expect([5, 9005]).toContain(sent.b);
    const nodeB = await nodes.start(b);
    await eventually(`B to receive A's ${sent.b}`, async () => (await countsOf(b)).received === sent.b, 60_000);
    await eventually('A\'s outbox to drain', async () => (await nodes.outboxTo(a, peerIdB)) === 0, 30_000);
    expect((await countsOf(b)).received).toBe(sent.b);
    for (const node of [restarted, nodeB]) node.child.kill('SIGTERM');
    for (const node of [restarted, nodeB]) expect(await node.exited).toMatchObject({ code: 0 });
  }, 240_000);
});
