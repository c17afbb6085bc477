import { Command } from 'commander';
import { askNode } from '../admin/client.js';
import { dataDirFiles } from '../config/dataDir.js';
import { dataDirOption } from './configOptions.js';
import { exitCodesHelp, withUserErrors } from './exitCodes.js';

/** `ken-node vats`: the running node's vats; `--terminate` ends a failed one for good. */
export function vatsCommand(): Command {
  return new Command('vats')
    .description(
      'print the running node\'s vats as JSON (GET /vats): name, id, state (live, failed, terminated) and why. With ' +
        '--terminate, end a failed vat for good (POST /vats/terminate): its durable state is deleted, what it decided is ' +
        'rejected, and messages to it are rejected from then on. A failed vat keeps its state until then, and every start tries it again.',
    )
    .addOption(dataDirOption())
    .option('--terminate <name>', 'terminate the failed vat with this name')
    .addHelpText('after', exitCodesHelp.client)
    .action(async (options: { dataDir: string; terminate?: string }) => {
      process.exitCode = await withUserErrors(async () => {
        const files = dataDirFiles(options.dataDir);
        const answer = options.terminate === undefined ? await askNode(files, 'GET', '/vats') : await askNode(files, 'POST', '/vats/terminate', { vat: options.terminate });
        process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
        return 0;
      });
    });
}
