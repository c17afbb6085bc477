import { Command } from 'commander';
import { askNode } from '../admin/client.js';
import { dataDirFiles } from '../config/dataDir.js';
import { dataDirOption } from './configOptions.js';
import { exitCodesHelp, withUserErrors } from './exitCodes.js';

/** `ken-node url`: a new ocap URL for a vat's root object on the running node. */
export function urlCommand(): Command {
  return new Command('url')
    .description(
      'issue a new ocap URL for the root object of the running node\'s bootstrap vat (or of --vat) and print it (POST /url). ' +
        'Whoever holds the URL can redeem it, any number of times, for as long as the store lives: share it as a capability.',
    )
    .addOption(dataDirOption())
    .addHelpText('after', exitCodesHelp.client)
    .option('--vat <name>', 'the vat whose root the URL names (default: the bootstrap vat)')
    .action(async (options: { dataDir: string; vat?: string }) => {
      process.exitCode = await withUserErrors(async () => {
        const answer = (await askNode(dataDirFiles(options.dataDir), 'POST', '/url', { vat: options.vat })) as { url: string };
        process.stdout.write(`${answer.url}\n`);
        return 0;
      });
    });
}
