import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';

/**
 * Writes `text` to `file` through a temporary file and a rename, so that a
 * reader (or a crash) never sees half of it, and makes both the contents
 * and the rename durable before it returns: a caller may then drop the only
 * other copy (the key moved out of a store). With `mode`, the file has
 * exactly those permissions before it appears under its name.
 */
export function writeFileAtomically(file: string, text: string, mode?: number): void {
  const temporary = `${file}.${process.pid}.tmp`;
  const fd = openSync(temporary, 'w', mode);
  try {
    // The umask may have taken bits away: set them exactly.
    if (mode !== undefined) fchmodSync(fd, mode);
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, file);
  syncDirectoryOf(file);
}

/** Makes the entry of `file` in its directory durable (a rename or a creation), as `fsync` of the file makes its contents. */
export function syncDirectoryOf(file: string): void {
  syncPath(path.dirname(file));
}

/** fsync of a file (or a directory) by its path. */
export function syncPath(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
