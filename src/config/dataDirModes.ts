import { chmodSync, mkdirSync } from 'node:fs';
import { exposedMode, privateDirectoryMode, privateFileMode } from '../util/fileModes.js';
import { secretFiles, type DataDirFiles } from './dataDir.js';
import { ConfigError } from './errors.js';

/**
 * For `init`: makes the data directory if it is missing, then sets it to
 * 0700 and each of its {@link secretFiles} that exists to 0600, whether init
 * made them or found them. A directory made beforehand with `mkdir` is 0755
 * under the usual umask, and an interrupted init may have left files.
 */
export function makeDataDirPrivate(files: DataDirFiles): void {
  mkdirSync(files.directory, { recursive: true, mode: privateDirectoryMode });
  // mkdir leaves an existing directory's mode alone, and the umask narrows a new one's: set it exactly.
  chmodSync(files.directory, privateDirectoryMode);
  for (const file of secretFiles(files)) {
    try {
      chmodSync(file, privateFileMode);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/**
 * For `start`: throws a {@link ConfigError} (exit 2) if group or others have
 * any permission on the data directory or on one of its {@link secretFiles},
 * one line for each, with the chmod that fixes it. A secret file that does
 * not exist yet is fine: the node creates it for its owner alone.
 */
export function refuseExposedDataDir(files: DataDirFiles): void {
  const problems = [files.directory, ...secretFiles(files)].flatMap((file) => {
    const mode = exposedMode(file);
    if (mode === undefined) return [];
    const wanted = file === files.directory ? privateDirectoryMode : privateFileMode;
    const what = file === files.directory ? 'the data directory' : 'a secret file of the data directory';
    return [`unsafe mode: ${file} (${what}) has mode ${octal(mode)}, open to group or others: chmod ${octal(wanted).slice(1)} ${shellWord(file)}`];
  });
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

/** `text` as one word for a POSIX shell, so that the fix can be pasted as it is. */
function shellWord(text: string): string {
  return /^[\w./@%+=:,-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}
