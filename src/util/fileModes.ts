import { closeSync, fchmodSync, openSync, statSync } from 'node:fs';

/** Read and write for the owner, nothing for group or others: the mode of a file that holds a secret. */
export const privateFileMode = 0o600;

/** Everything for the owner, nothing for group or others: the mode of a directory of secrets. */
export const privateDirectoryMode = 0o700;

/**
 * Creates `file`, empty, with {@link privateFileMode} unless it exists
 * (then it is left as it is). Whatever is written into it afterwards, such
 * as a database SQLite creates there, was never readable by others: a
 * chmod after the write would leave a window.
 */
export function createPrivateFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', privateFileMode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw error;
  }
  try {
    // The umask may have taken bits away (an odd one, even the owner's): set them exactly.
    fchmodSync(fd, privateFileMode);
  } finally {
    closeSync(fd);
  }
}

/** The permission bits of `file` (`mode & 0o777`) if group or others have any of them; undefined if not, or if there is no such file. */
export function exposedMode(file: string): number | undefined {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return (mode & 0o077) === 0 ? undefined : mode;
}
