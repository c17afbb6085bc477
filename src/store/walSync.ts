import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
import { assert } from '../util/assert.js';
import { syncDirectoryOf } from '../util/atomicFile.js';
import { StorageError, storageErrorOf } from './storageError.js';

/** `fs.fdatasync`'s shape. */
export type FdatasyncFn = (fd: number, done: (error: NodeJS.ErrnoException | null) => void) => void;

/**
 * How the WAL file is flushed: Node's `fs`, or a test's disk (a slow one, a
 * failing one). `fdatasync` runs in libuv's thread pool while the kernel
 * goes on; `fdatasyncSync`, in this thread, when the kernel has nothing
 * else to run. A disk without it (one whose flushes a test holds back) is
 * flushed in the thread pool then too.
 */
export interface WalDisk {
  fdatasync: FdatasyncFn;
  fdatasyncSync?: (fd: number) => void;
}

export const nodeDisk: WalDisk = { fdatasync, fdatasyncSync };

/**
 * Durability off the critical path (durability `fsync`). The connection
 * runs WAL with synchronous=NORMAL, so a COMMIT writes its frames to the
 * WAL file and returns without waiting for the disk; this module then
 * flushes the WAL file with `fdatasync` in libuv's thread pool while the
 * kernel goes on with the next cranks, and runs what each COMMIT released
 * (frames for peers, acks, host results) only once a flush that began
 * after that COMMIT has returned. Flushes do not overlap: one in flight,
 * and the COMMITs made meanwhile wait for the next one, which covers them
 * all (the WAL is appended in order, so one flush covers every COMMIT
 * before it began). Why this is as durable as synchronous=FULL is in
 * docs/architecture.md ("fsync off the critical path").
 */
export class WalSync {
  readonly #walPath: string;
  readonly #disk: WalDisk;
  #fd: number | undefined;
  /** COMMITs made, and COMMITs known to be on disk. */
  #committed = 0;
  #durable = 0;
  /** What waits for the disk, in COMMIT order, with the COMMIT count it waits for. */
  readonly #waiting: { commit: number; release: () => void }[] = [];
  #flushing = false;
  /** Closed by the store: a flush still in flight closes the file when it returns (closing it under the flush would sync another file, or fail). */
  #closed = false;
  #failure: StorageError | undefined;
  #onFailure: (error: StorageError) => void = () => {};

  constructor(databasePath: string, disk: WalDisk = nodeDisk) {
    this.#walPath = `${databasePath}-wal`;
    this.#disk = disk;
  }

  /** Where a failed flush is reported: the commits it covered may not be on disk, and nothing they released may leave. */
  set onFailure(handler: (error: StorageError) => void) {
    this.#onFailure = handler;
  }

  /** COMMITs not known to be on disk yet. */
  get pending(): number {
    return this.#committed - this.#durable;
  }

  /**
   * A COMMIT returned: `release` runs once it is on disk (and after
   * whatever earlier COMMITs released). `idleNext`: the kernel has nothing
   * more to run, so the flush is made now, in this thread, unless one is in
   * flight already (its end starts the next): nothing else would run
   * meanwhile, and a flush in the thread pool adds its hand-off and the
   * wake-up of an idle event loop (measured on the round trip: 317 µs from
   * COMMIT to release, for an `fdatasync` of ~150 µs). While cranks run,
   * flushes stay in the thread pool, off their path.
   */
  committed(release: () => void, idleNext = false): void {
    this.#assertHealthy();
    this.#committed += 1;
    this.#waiting.push({ commit: this.#committed, release });
    if (this.#flushing) return;
    if (idleNext && this.#disk.fdatasyncSync !== undefined) this.flushNow();
    else this.#flush();
  }

  /**
   * What cranks that wrote nothing released (a hello judged, a duplicate
   * dropped) depends only on COMMITs already made: it runs once those are
   * on disk, after what they released. Only while some are not yet
   * ({@link pending}): otherwise the caller runs it at once.
   */
  afterEarlierCommits(release: () => void): void {
    this.#assertHealthy();
    assert(this.pending > 0, 'a release queued behind COMMITs that are all on disk already');
    this.#waiting.push({ commit: this.#committed, release });
  }

  /**
   * Flushes now, in this thread, and runs everything waiting: for a
   * COMMIT made outside the kernel's loop (a write at open time) and for
   * the last COMMIT before the store closes.
   */
  flushNow(): void {
    this.#assertHealthy();
    const upTo = this.#committed;
    try {
      // At open and close a disk without a flush in this thread has Node's: nothing else would wait for it.
      (this.#disk.fdatasyncSync ?? fdatasyncSync)(this.#openWal());
    } catch (error) {
      this.#fail(error);
      throw this.#failure;
    }
    this.#madeDurable(upTo);
  }

  close(): void {
    this.#closed = true;
    if (!this.#flushing) this.#closeFile();
  }

  #closeFile(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #flush(): void {
    const upTo = this.#committed;
    let fd: number;
    try {
      fd = this.#openWal();
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#flushing = true;
    this.#disk.fdatasync(fd, (error) => {
      this.#flushing = false;
      // The store closed meanwhile, after a flush of its own that covered this one.
      if (this.#closed) {
        this.#closeFile();
        return;
      }
      if (this.#failure !== undefined) return;
      if (error !== null) {
        this.#fail(error);
        return;
      }
      this.#madeDurable(upTo);
      if (this.#committed > this.#durable) this.#flush();
    });
  }

  #madeDurable(upTo: number): void {
    this.#durable = Math.max(this.#durable, upTo);
    while (this.#waiting.length > 0 && (this.#waiting[0]?.commit ?? Infinity) <= this.#durable) {
      this.#waiting.shift()?.release();
    }
  }

  /** The WAL file, opened once (and its directory flushed once, so that the file itself is found after a power cut). */
  #openWal(): number {
    if (this.#fd !== undefined) return this.#fd;
    syncDirectoryOf(this.#walPath);
    this.#fd = openSync(this.#walPath, 'r');
    return this.#fd;
  }

  #fail(error: unknown): void {
    const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
    const failure = storageErrorOf(error, `flushing ${this.#walPath} to disk`) ?? new StorageError(`storage error (flushing ${this.#walPath} to disk): ${String(error)}`, code, { cause: error });
    this.#failure = failure;
    // Nothing the unflushed COMMITs released may leave: dropped, not run.
    this.#waiting.length = 0;
    this.#onFailure(failure);
  }

  #assertHealthy(): void {
    if (this.#failure !== undefined) throw new StorageError(`an earlier flush to disk failed: ${this.#failure.message}`, this.#failure.code, { cause: this.#failure });
    assert(this.#durable <= this.#committed, 'more COMMITs on disk than made');
  }
}
