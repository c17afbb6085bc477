import { Command, InvalidArgumentError } from 'commander';
import { parseOcapUrl } from '../remote/ocapUrl.js';
import { dataDirOption } from './configOptions.js';
import { printResultOf } from './call.js';
import { exitCodesHelp } from './exitCodes.js';
import { jsonArgument } from './options.js';

/** `ken-node send`: a message from the shell to any object an ocap URL names, through the running node. */
export function sendCommand(): Command {
  return new Command('send')
    .description(
      'send METHOD with JSON arguments to the object OCAP_URL names, on this node or another, through the running node ' +
        '(POST /send), and print the result as JSON once the COMMIT that holds it returned. The node redeems the URL the first ' +
        'time (an exactly-once message to its node) and remembers what it gave, so later sends go straight to it. A rejection ' +
        '(the URL refused, revoked or expired, the method throwing) prints its message and exits 1.',
    )
    .addOption(dataDirOption())
    .addHelpText('after', exitCodesHelp.client)
    .argument('<ocap-url>', 'the object to send to, as `ken-node url` prints it', ocapUrlArgument)
    .argument('<method>', 'the method to call')
    .argument('[args...]', 'arguments, each a JSON value (e.g. 5, "text", [1,2])', jsonArgument, [])
    .action(async (url: string, method: string, args: unknown[], options: { dataDir: string }) => {
      process.exitCode = await printResultOf(options.dataDir, '/send', { url, method, args });
    });
}

function ocapUrlArgument(value: string): string {
  try {
    parseOcapUrl(value);
  } catch (error) {
    throw new InvalidArgumentError(`expected an ocap URL (ocap:<swiss>@<peer id>,<multiaddr>...), as \`ken-node url\` prints it: ${(error as Error).message}`);
  }
  return value;
}
