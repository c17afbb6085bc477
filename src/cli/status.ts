import { Command } from 'commander';
import { askNode } from '../admin/client.js';
import { dataDirFiles } from '../config/dataDir.js';
import { dataDirOption } from './configOptions.js';
import { exitCodesHelp, withUserErrors } from './exitCodes.js';

/** `ken-node status`: the running node's status, from its admin endpoint. */
export function statusCommand(): Command {
  return new Command('status')
    .description('print the running node\'s status as JSON (GET /status): peer id, addresses, kernel and session counters, peers')
    .addOption(dataDirOption())
    .addHelpText('after', exitCodesHelp.client)
    .action(async (options: { dataDir: string }) => {
      process.exitCode = await withUserErrors(async () => {
        process.stdout.write(`${JSON.stringify(await askNode(dataDirFiles(options.dataDir), 'GET', '/status'), null, 2)}\n`);
        return 0;
      });
    });
}
