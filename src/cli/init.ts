import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { ensureAdminToken } from '../admin/token.js';
import { dataDirFiles } from '../config/dataDir.js';
import { makeDataDirPrivate } from '../config/dataDirModes.js';
import { ConfigError } from '../config/errors.js';
import { resolveConfig, writeConfigFile } from '../config/load.js';
import { ensureKeyFile } from '../node/identity.js';
import { createStore } from '../node/storeFile.js';
import { BundleError, bundleSourceFile } from '../vats/bundles.js';
import { addConfigOptions, dataDirOption, overridesOf } from './configOptions.js';
import { exitCodesHelp, withUserErrors } from './exitCodes.js';

/** A bootstrap source that `start` could not load is refused now, not at the first start. */
async function checkBootstrapSource(source: string): Promise<void> {
  try {
    await bundleSourceFile(source);
  } catch (error) {
    if (error instanceof BundleError) throw new ConfigError(`bootstrap: ${error.message}`);
    throw error;
  }
}

/** `ken-node init`: a new node's data directory. */
export function initCommand(): Command {
  const command = new Command('init')
    .description(
      'create a node\'s data directory: the node\'s key (its peer id), its store, an admin token, ' +
        'and ken-node.json holding the settings given here and every default. The directory is made mode 0700 and ' +
        'these files 0600 (the owner alone), even if the directory existed. Refuses a directory that has a config; ' +
        'an interrupted init can be run again.',
    )
    .addOption(dataDirOption())
    .addHelpText('after', exitCodesHelp.init);
  return addConfigOptions(command, 'sets').action(async (_options: unknown, self: Command) => {
    process.exitCode = await withUserErrors(() => runInit(self));
  });
}

async function runInit(command: Command): Promise<number> {
  const files = dataDirFiles(command.opts<{ dataDir: string }>().dataDir);
  if (existsSync(files.config)) {
    process.stderr.write(`ken-node: ${files.directory} is already initialized (${files.config} exists); edit that file to change settings\n`);
    return 1;
  }
  // Judged before anything is written: a bad flag leaves no half-made directory.
  const config = resolveConfig({}, overridesOf(command), { origin: 'defaults', baseDirectory: files.directory, cwd: process.cwd() });
  if (config.bootstrap !== undefined) await checkBootstrapSource(config.bootstrap.source);
  // Before the key is made: the store is then created 0600 (openDatabase) in a directory only the owner can enter.
  makeDataDirPrivate(files);
  const peerId = await ensureKeyFile(files.key);
  createStore(files.store, config.durability, peerId);
  ensureAdminToken(files.adminToken);
  // Last: its presence is what marks the directory as initialized.
  writeConfigFile(files.config, config);
  process.stdout.write(
    [
      `initialized ${files.directory}`,
      `  peer id      ${peerId}`,
      `  key          ${files.key}`,
      `  config       ${files.config}`,
      `  admin token  ${files.adminToken}`,
      `start it with: ken-node start --data-dir ${files.directory}`,
      '',
    ].join('\n'),
  );
  return 0;
}
