import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { dataDirFiles } from '../config/dataDir.js';
import { ConfigError } from '../config/errors.js';
import { peerIdOfKeyFile } from '../node/identity.js';
import { StartRefusedError } from '../node/startErrors.js';
import { restoreStore } from '../store/backup.js';
import { lockDataDir } from '../store/processLock.js';
import { dataDirOption } from './configOptions.js';
import { exitCodesHelp, withUserErrors } from './exitCodes.js';

/** `ken-node restore`: a backup back in place, marked to start as a new incarnation. */
export function restoreCommand(): Command {
  return new Command('restore')
    .description(
      'put a backup made by `ken-node backup` in place of the node\'s store (the node must be stopped). The store is checked ' +
        'first, and must belong to this node\'s key. Its next start is a new incarnation: its peers remember more than the ' +
        'backup does, so every pair starts over; they reject what the node had decided and drop what they owed it, and ' +
        'need new ocap URLs for it.',
    )
    .addOption(dataDirOption())
    .requiredOption('--from <file>', 'the backup file')
    .addHelpText('after', exitCodesHelp.restore)
    .action(async (options: { dataDir: string; from: string }) => {
      process.exitCode = await withUserErrors(async () => {
        const files = dataDirFiles(options.dataDir);
        const from = path.resolve(options.from);
        if (!existsSync(files.config)) throw new ConfigError(`${files.directory} is not a node's data directory (no ${files.config}): run \`ken-node init\` first`);
        if (!existsSync(from)) throw new ConfigError(`${from} does not exist`);
        const peerId = peerIdOfKeyFile(files.key);
        const lock = lockDataDir(files);
        try {
          restoreStore(files.store, from, `${from}, restored ${new Date().toISOString()}`, (facts) => {
            if (facts.peerId !== undefined && facts.peerId !== peerId) {
              throw new StartRefusedError(`${from} is the store of peer ${facts.peerId}, but this node's key is peer ${peerId}: restore a backup of this node`);
            }
          });
        } finally {
          lock.release();
        }
        process.stdout.write(
          `restored ${files.store} from ${from}; its next start is a new incarnation of peer ${peerId}: every pair starts over, ` +
            'its peers reject what it had decided and drop what they owed it, and need new ocap URLs for it\n',
        );
        return 0;
      });
    });
}
