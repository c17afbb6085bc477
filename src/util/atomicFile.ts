import { chmodSync, renameSync, writeFileSync } from 'node:fs';

/**
 * Writes `text` to `file` through a temporary file and a rename, so that a
 * reader (or a crash) never sees half of it. With `mode`, the file has
 * exactly those permissions before it appears under its name.
 */
export function writeFileAtomically(file: string, text: string, mode?: number): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text, { mode });
  // The umask may have taken bits away: set them exactly.
  if (mode !== undefined) chmodSync(temporary, mode);
  renameSync(temporary, file);
}
