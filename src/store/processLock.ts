import Database from 'better-sqlite3';

/** Another process holds the lock: another node runs on the same data directory. */
export class LockedError extends Error {
  override name = 'LockedError';
}

/**
 * An exclusive lock on `file`, held by this process until `release()` or
 * until it dies, however it dies: the lock is SQLite's (an OS file lock), so
 * the OS drops it with the process and a SIGKILLed node leaves no stale
 * lock. A node takes it on its data directory so that a second process can
 * never run a kernel on the same store: SQLite's own write lock is held only
 * while a transaction is open, so between commits it would let one in.
 */
export function lockExclusively(file: string): { release(): void } {
  const db = new Database(file);
  try {
    db.pragma('busy_timeout = 0');
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY') {
      throw new LockedError(`${file} is held by another process`);
    }
    throw error;
  }
  return {
    release: () => {
      db.exec('ROLLBACK');
      db.close();
    },
  };
}

/**
 * The data directory's lock (its `node.lock`): held by a running node until
 * it stops or dies (a second node on the same store would break
 * exactly-once), and by the commands that replace its store.
 */
export function lockDataDir(files: { directory: string; lock: string }): { release(): void } {
  try {
    return lockExclusively(files.lock);
  } catch (error) {
    if (!(error instanceof LockedError)) throw error;
    throw new LockedError(`a node is already running on ${files.directory} (it holds ${files.lock})`);
  }
}
