import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dataDirFiles } from '../../src/config/dataDir.js';
import { packageRoot } from '../../src/util/packageRoot.js';
import { seededRandom, testSeed } from '../../src/util/random.js';
import { exitOf, type Exit } from '../support/cli.js';
import { tempDirs } from '../support/nodes.js';
import { nodeProcesses } from '../support/nodeCli.js';

const dirs = tempDirs();
const nodes = nodeProcesses();
afterEach(() => {
  nodes.killAll();
  dirs.cleanup();
});

/** A start that fails must end by itself: this long and the test calls it a hang. */
const failedStartMs = 30_000;

/** A data directory made by `init`, started once and stopped (so its store holds a vat and a commit). */
async function initializedDir(): Promise<string> {
  const dir = path.join(dirs.make('ken-failed-start-'), 'node');
  const init = await nodes.init(dir);
  expect(init.code, init.stderr).toBe(0);
  const started = await nodes.start(dir);
  started.child.kill('SIGTERM');
  expect(await started.exited).toMatchObject({ code: 0 });
  return dir;
}

/** `start` on `dir`, which must exit by itself (a hang is killed and fails the test). */
async function failedStart(dir: string, extra: string[] = []): Promise<Exit> {
  const started = Date.now();
  const exit = await nodes.run(['start', '--data-dir', dir, ...extra]);
  expect(Date.now() - started, `start on ${dir} hung: ${exit.stderr}`).toBeLessThan(failedStartMs);
  expect(exit.signal, exit.stderr).toBeNull();
  return exit;
}

/** Each file of `dir` and the digest of its contents: what a failed start must leave as it was. */
function contentsOf(dir: string): Record<string, string> {
  const files = readdirSync(dir).filter((name) => name !== 'node.lock' && name !== 'admin.json');
  return Object.fromEntries(files.map((name) => [name, createHash('sha256').update(readFileSync(path.join(dir, name))).digest('hex')]));
}

/**
 * `ken-node start` on a data directory its process cannot write: a
 * read-only bind mount in a mount namespace of its own when the test runs
 * as root (whom file modes do not stop), mode 0500 otherwise.
 */
async function startReadOnly(dir: string): Promise<Exit> {
  const bin = path.join(packageRoot, 'bin', 'ken-node.js');
  if (process.getuid?.() !== 0) {
    chmodSync(dir, 0o500);
    try {
      return await failedStart(dir);
    } finally {
      chmodSync(dir, 0o700);
    }
  }
  const script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" "$3" start --data-dir "$1"';
  const child = spawn('unshare', ['-m', 'sh', '-c', script, 'sh', dir, process.execPath, bin], { stdio: ['ignore', 'pipe', 'pipe'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), failedStartMs);
  try {
    return await exitOf(child);
  } finally {
    clearTimeout(timer);
  }
}

describe('ken-node start: a start that fails exits 1 with the reason, runs nothing, and changes nothing', () => {
  it('refuses a read-only data directory, a damaged store, an emptied store and a deleted one', async () => {
    const seed = testSeed();
    console.log(`failed starts: seed ${seed} (replay: KEN_SEED=${seed} npx vitest run test/cli/failedStarts.test.ts)`);
    const random = seededRandom(seed);
    const dir = await initializedDir();
    const files = dataDirFiles(dir);
    const before = contentsOf(dir);

    const readOnly = await startReadOnly(dir);
    expect(readOnly.code, readOnly.stderr).toBe(1);
    expect(readOnly.stderr).toMatch(/storage error .*is not writable/);
    expect(contentsOf(dir)).toEqual(before);

    // 16 KiB of garbage at a seeded place in the middle of the store.
    const size = statSync(files.store).size;
    const at = Math.floor(size / 4 + random() * (size / 2 - 16_384));
    const fd = openSync(files.store, 'r+');
    writeSync(fd, Buffer.from(Array.from({ length: 16_384 }, () => Math.floor(random() * 256))), 0, 16_384, at);
    closeSync(fd);
    const damaged = contentsOf(dir);
    const corrupt = await failedStart(dir);
    expect(corrupt.code, corrupt.stderr).toBe(1);
    expect(corrupt.stderr).toMatch(/the store .*kernel\.sqlite is damaged|database disk image is malformed/);
    expect(contentsOf(dir)).toEqual(damaged);

    truncateSync(files.store, 0);
    const emptied = await failedStart(dir);
    expect(emptied.code, emptied.stderr).toBe(1);
    expect(emptied.stderr).toContain(`the store ${files.store} is empty (0 bytes), but this data directory had one`);
    expect(emptied.stderr).toContain('--new-incarnation');
    expect(statSync(files.store).size).toBe(0);

    rmSync(files.store);
    const deleted = await failedStart(dir);
    expect(deleted.code, deleted.stderr).toBe(1);
    expect(deleted.stderr).toContain(`the store ${files.store} is missing, but this data directory had one`);
    expect(existsSync(files.store)).toBe(false);

    // With the key gone too, there is no node left to start as a new incarnation.
    const key = readFileSync(files.key);
    rmSync(files.key);
    const noKey = await failedStart(dir, ['--new-incarnation']);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('make a new node with `ken-node init`');
    writeFileSync(files.key, key, { mode: 0o600 });

    // Accepted by the operator: the same key, an empty store, a new incarnation.
    const fresh = await nodes.start(dir, ['--new-incarnation']);
    fresh.child.kill('SIGTERM');
    expect(await fresh.exited).toMatchObject({ code: 0 });
    // Once it holds a store, the flag would throw that away: refused.
    const again = await failedStart(dir, ['--new-incarnation']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('--new-incarnation starts an empty store');
  }, 240_000);

  it('init refuses a bootstrap source that is missing or does not bundle, and writes nothing', async () => {
    const root = dirs.make('ken-init-bundle-');
    const broken = path.join(packageRoot, 'test', 'vats', `unbundlable-${process.pid}.js`);
    writeFileSync(broken, "import { nothing } from './no-such-module.js';\nexport const buildRootObject = () => nothing;\n");
    try {
      for (const [source, reason] of [
        [path.join(root, 'missing.js'), 'does not exist'],
        [broken, 'does not bundle'],
      ] as const) {
        const dir = path.join(root, 'node');
        const exit = await nodes.run(['init', '--data-dir', dir, '--bootstrap', source]);
        expect(exit.code, exit.stderr).toBe(2);
        expect(exit.stderr).toContain(`bootstrap: ${source} ${reason}`);
        expect(existsSync(dir)).toBe(false);
      }
    } finally {
      rmSync(broken, { force: true });
    }
  }, 120_000);
});
