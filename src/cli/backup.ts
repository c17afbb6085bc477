import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { dataDirFiles } from '../config/dataDir.js';
import { ConfigError } from '../config/errors.js';
import { holdsStore } from '../node/storeFile.js';
import { backUpStore } from '../store/backup.js';
import { dataDirOption } from './configOptions.js';
import { exitCodesHelp, withUserErrors } from './exitCodes.js';

/** `ken-node backup`: a consistent copy of a node's store, taken while it runs or not. */
export function backupCommand(): Command {
  return new Command('backup')
    .description(
      'copy the node\'s store (kernel.sqlite) to a new file, mode 0600, as one consistent snapshot (SQLite\'s VACUUM INTO), ' +
        'whether or not the node runs: it goes on meanwhile. The key (node.key) is not in the copy: keep a copy of it once, ' +
        'it never changes. Put a backup back with `ken-node restore`, never by copying the file.',
    )
    .addOption(dataDirOption())
    .requiredOption('--to <file>', 'the new file to write (it must not exist)')
    .addHelpText('after', exitCodesHelp.backup)
    .action(async (options: { dataDir: string; to: string }) => {
      process.exitCode = await withUserErrors(async () => {
        const files = dataDirFiles(options.dataDir);
        const to = path.resolve(options.to);
        if (!holdsStore(files.store)) throw new ConfigError(`there is no store to back up at ${files.store}`);
        if (existsSync(to)) throw new ConfigError(`${to} exists: back up to a new file`);
        const bytes = backUpStore(files.store, to);
        process.stdout.write(`backed up ${files.store} to ${to} (${bytes} bytes); keep a copy of ${files.key} too (it is not in the backup)\n`);
        return 0;
      });
    });
}
