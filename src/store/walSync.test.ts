import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageError } from './storageError.js';
import { WalSync, type FdatasyncFn } from './walSync.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A database path whose `-wal` file exists, and a disk whose flushes return when the test says. */
function setUp() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ken-walsync-'));
  dirs.push(dir);
  const database = path.join(dir, 'kernel.sqlite');
  fs.writeFileSync(`${database}-wal`, 'frames');
  const flushes: ((error: NodeJS.ErrnoException | null) => void)[] = [];
  const disk: FdatasyncFn = (_fd, done) => void flushes.push(done);
  return { sync: new WalSync(database, { fdatasync: disk }), flushes, database };
}

describe('WalSync', () => {
  it('releases each COMMIT once a flush that began after it returns, in order, one flush in flight at a time', () => {
    const { sync, flushes } = setUp();
    const released: number[] = [];
    sync.committed(() => released.push(1));
    sync.committed(() => released.push(2));
    expect(flushes).toHaveLength(1); // the second COMMIT waits for the next flush
    flushes[0]?.(null);
    expect(released).toEqual([1]);
    expect(flushes).toHaveLength(2);
    sync.committed(() => released.push(3));
    flushes[1]?.(null);
    expect(released).toEqual([1, 2]);
    flushes[2]?.(null);
    expect(released).toEqual([1, 2, 3]);
    expect(sync.pending).toBe(0);
    sync.close();
  });

  it('releases what a write-free group released after the COMMITs before it, with no flush of its own', () => {
    const { sync, flushes } = setUp();
    const released: string[] = [];
    sync.committed(() => released.push('commit 1'));
    sync.committed(() => released.push('commit 2'));
    sync.afterEarlierCommits(() => released.push('no writes'));
    flushes[0]?.(null);
    expect(released).toEqual(['commit 1']);
    flushes[1]?.(null);
    expect(released).toEqual(['commit 1', 'commit 2', 'no writes']);
    expect(flushes).toHaveLength(2);
    expect(() => sync.afterEarlierCommits(() => released.push('nothing pending'))).toThrow(/all on disk already/);
    sync.close();
  });

  it('on a failed flush releases nothing it covered, reports a storage error, and refuses later COMMITs', () => {
    const { sync, flushes } = setUp();
    const released: number[] = [];
    const failures: StorageError[] = [];
    sync.onFailure = (error) => failures.push(error);
    sync.committed(() => released.push(1));
    sync.committed(() => released.push(2));
    flushes[0]?.(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    expect(released).toEqual([]);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toBeInstanceOf(StorageError);
    expect(failures[0]?.code).toBe('EIO');
    expect(() => sync.committed(() => released.push(3))).toThrow(StorageError);
    expect(flushes).toHaveLength(1);
    sync.close();
  });

  it('flushNow puts everything waiting on disk at once and releases it', () => {
    const { sync, flushes } = setUp();
    const released: number[] = [];
    sync.committed(() => released.push(1));
    sync.flushNow();
    expect(released).toEqual([1]);
    // The flush begun before returns late: nothing is released twice.
    flushes[0]?.(null);
    expect(released).toEqual([1]);
    sync.close();
  });

  it('flushes a COMMIT the kernel goes idle after in this thread, unless a flush is in flight; a disk without a flush in this thread, in the thread pool', () => {
    const { flushes, database } = setUp();
    const inThread: number[] = [];
    const sync = new WalSync(database, { fdatasync: (_fd, done) => void flushes.push(done), fdatasyncSync: () => void inThread.push(flushes.length) });
    const released: number[] = [];
    sync.committed(() => released.push(1), true);
    expect([inThread, flushes.length, released]).toEqual([[0], 0, [1]]);
    sync.committed(() => released.push(2));
    sync.committed(() => released.push(3), true); // one is in flight: its end starts the next
    expect([inThread.length, flushes.length, released]).toEqual([1, 1, [1]]);
    flushes[0]?.(null);
    flushes[1]?.(null);
    expect(released).toEqual([1, 2, 3]);
    sync.close();

    const held = setUp();
    const withoutInThread = new WalSync(held.database, { fdatasync: (_fd, done) => void held.flushes.push(done) });
    withoutInThread.committed(() => released.push(4), true);
    expect(held.flushes).toHaveLength(1);
    held.flushes[0]?.(null);
    expect(released).toEqual([1, 2, 3, 4]);
    withoutInThread.close();
  });

  it('closes the file only once a flush still in flight at close returns, and reports nothing of that flush', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ken-walsync-'));
    dirs.push(dir);
    const database = path.join(dir, 'kernel.sqlite');
    fs.writeFileSync(`${database}-wal`, 'frames');
    const flushes: { fd: number; done: (error: NodeJS.ErrnoException | null) => void }[] = [];
    const sync = new WalSync(database, { fdatasync: (fd, done) => void flushes.push({ fd, done }) });
    const failures: StorageError[] = [];
    sync.onFailure = (error) => failures.push(error);
    sync.committed(() => {});
    sync.flushNow();
    sync.close();
    const inFlight = flushes[0];
    expect(inFlight).toBeDefined();
    // Still the WAL: closed under the flush, its number could name another file by the time the thread pool syncs it.
    expect(fs.fstatSync(inFlight?.fd ?? -1).ino).toBe(fs.statSync(`${database}-wal`).ino);
    inFlight?.done(null);
    expect(() => fs.fstatSync(inFlight?.fd ?? -1)).toThrow(/EBADF/);
    expect(failures).toEqual([]);
  });
});
