import { Command } from 'commander';
import { askNode } from '../admin/client.js';
import { dataDirFiles } from '../config/dataDir.js';
import { dataDirOption } from './configOptions.js';
import { exitCodesHelp, withUserErrors } from './exitCodes.js';
import { jsonArgument, vatName } from './options.js';

/** `ken-node call`: an operator's call into a vat's root on the running node. */
export function callCommand(): Command {
  return new Command('call')
    .description(
      'call METHOD on the root object of the running node\'s bootstrap vat (or of --vat) with JSON arguments, and print ' +
        'the result as JSON once the COMMIT that holds it returned (POST /call). A rejection prints its message and exits 1.',
    )
    .addOption(dataDirOption())
    .addHelpText('after', exitCodesHelp.client)
    .option('--vat <name>', 'the vat whose root is called (default: the bootstrap vat)', vatName)
    .argument('<method>', 'the method to call')
    .argument('[args...]', 'arguments, each a JSON value (e.g. 5, "text", [1,2])', jsonArgument, [])
    .action(async (method: string, args: unknown[], options: { dataDir: string; vat?: string }) => {
      process.exitCode = await printResultOf(options.dataDir, '/call', { vat: options.vat, method, args });
    });
}

/** Posts a message to the running node (`/call` or `/send`) and prints its result as JSON; the exit code. */
export function printResultOf(dataDir: string, path: '/call' | '/send', message: { method: string; args: unknown[]; vat?: string; url?: string }): Promise<number> {
  return withUserErrors(async () => {
    const answer = (await askNode(dataDirFiles(dataDir), 'POST', path, message)) as { result: unknown };
    process.stdout.write(`${JSON.stringify(answer.result)}\n`);
    return 0;
  });
}
