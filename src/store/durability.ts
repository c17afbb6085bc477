/**
 * How durable a COMMIT is.
 * - `fsync`: a commit survives a power cut, and nothing it released leaves
 *   the node before it is on disk. WAL with synchronous=NORMAL, and the WAL
 *   file flushed after each COMMIT off the critical path (walSync.ts); a
 *   store without a file (`:memory:`) has no disk to wait for.
 * - `process`: WAL with synchronous=NORMAL. A commit survives the process
 *   being killed (the WAL is in the OS page cache), not a power cut or an OS
 *   crash, which may lose the last commits but never corrupts the store.
 * (A module of its own, without SQLite: the CLI checks a mode's name without loading the store.)
 */
export type Durability = 'fsync' | 'process';

export const durabilities: readonly Durability[] = ['fsync', 'process'];
