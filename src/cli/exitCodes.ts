import { AdminClientError } from '../admin/client.js';
import { ConfigError } from '../config/errors.js';
import { StartRefusedError } from '../node/startErrors.js';
import { StorageError } from '../store/storageError.js';
import { LockedError } from '../store/processLock.js';

/**
 * Runs a node command and turns the errors a user can act on into a
 * one-line message and an exit code: a refused configuration is bad usage
 * (2); a node that cannot be reached or refuses a request, that already
 * runs on the data directory, whose start is refused (a lost store, a key
 * that is not the store's) or whose storage failed, is a failure (1).
 * Anything else is left to `main`, which prints it whole (1).
 */
export async function withUserErrors(run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`ken-node: ${error.message}\n`);
      return 2;
    }
    if (error instanceof AdminClientError || error instanceof LockedError || error instanceof StartRefusedError || error instanceof StorageError) {
      process.stderr.write(`ken-node: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

/** The end of `--help` for the node commands. */
export const exitCodesHelp = {
  start:
    '\nExit codes: 0 stopped cleanly after SIGTERM or SIGINT; 1 failed (an error, a kernel panic, a storage error, a node already running ' +
    'on the data directory, a store that is missing or empty, a key that is not the store\'s); 2 bad usage or a refused configuration: a bad setting, or group or others having any ' +
    'permission on the data directory or a secret file in it (node.key, ken-node.json, kernel.sqlite and its -wal and -shm, ' +
    'admin-token; the message names the chmod that fixes it); 128 + n a second signal n during the stop (143, 130).',
  init: '\nExit codes: 0 initialized; 1 failed (the directory already has a config, an error); 2 bad usage or a refused setting (a bootstrap source that is missing or does not bundle among them).',
  backup: '\nExit codes: 0 backed up; 1 failed (the store could not be read or the copy written: the message says why); 2 bad usage (no store in the data directory, a --to file that exists).',
  restore:
    '\nExit codes: 0 restored; 1 failed (a node runs on the data directory, the backup is damaged or belongs to another key, the key file is missing); ' +
    '2 bad usage (not a data directory, no such backup file).',
  client: '\nExit codes: 0 done; 1 failed (no node answers, the node refused the request, the call rejected); 2 bad usage.',
};
