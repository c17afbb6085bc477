import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFileAtomically } from '../util/atomicFile.js';
import { privateFileMode } from '../util/fileModes.js';

/**
 * The admin endpoint's bearer token: 256 random bits in a file only the
 * node's user may read (`start` refuses it otherwise). Whoever can read it
 * can run the node's admin operations (issue URLs, call its vats), so it is
 * a capability.
 */

/** Makes the token file unless it exists (so `init` can be run again after an interruption); returns the token. */
export function ensureAdminToken(file: string): string {
  try {
    return readAdminToken(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const token = randomBytes(32).toString('hex');
  writeFileAtomically(file, `${token}\n`, privateFileMode);
  return token;
}

export function readAdminToken(file: string): string {
  const token = readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(token)) throw new Error(`${file} does not hold an admin token (64 hex digits)`);
  return token;
}
