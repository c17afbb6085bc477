import Database from 'better-sqlite3';

/**
 * SQLite's result codes that say the storage failed (the disk, the file,
 * the filesystem), not the kernel's use of it: a full disk, an I/O error, a
 * corrupted or unreadable file, a read-only one. Extended codes
 * (`SQLITE_IOERR_FSYNC`, …) are named by their primary code's prefix.
 */
const storageCodes = ['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_READONLY', 'SQLITE_CANTOPEN', 'SQLITE_PERM', 'SQLITE_NOMEM', 'SQLITE_NOLFS'];

/**
 * The store's storage failed. A node stops on it, cleanly: SQLite has
 * committed nothing of the transaction that failed, and nothing that
 * transaction released has left the node. It is not a peer's fault and not
 * a broken invariant, and is never reported as either.
 */
export class StorageError extends Error {
  override name = 'StorageError';

  constructor(
    message: string,
    /** SQLite's code (`SQLITE_FULL`, …). */
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** `error` as a {@link StorageError} if it is one or a SQLite error of storage; undefined for any other error. */
export function storageErrorOf(error: unknown, where?: string): StorageError | undefined {
  if (error instanceof StorageError) return error;
  if (!(error instanceof Database.SqliteError)) return undefined;
  const { code } = error;
  if (!storageCodes.some((storage) => code === storage || code.startsWith(`${storage}_`))) return undefined;
  return new StorageError(`storage error${where === undefined ? '' : ` (${where})`}: ${error.message} (${code})`, code, { cause: error });
}
