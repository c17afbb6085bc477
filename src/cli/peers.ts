import { Command, InvalidArgumentError, Option } from 'commander';
import { askNode } from '../admin/client.js';
import { dataDirFiles } from '../config/dataDir.js';
import { splitPeerEntry } from '../config/overrides.js';
import { nameSchema, ocapUrlSchema } from '../config/schema.js';
import { dataDirOption } from './configOptions.js';
import { exitCodesHelp, withUserErrors } from './exitCodes.js';

/** `ken-node peers`: the running node's peers, from its admin endpoint; `--add` introduces one. */
export function peersCommand(): Command {
  return new Command('peers')
    .description(
      'print the running node\'s peers as JSON (GET /peers): per peer, whether it is connected, messages sent, acked ' +
        'and received, the outbox depth and the age of the oldest unacked message. With --add name=url, introduce a ' +
        'peer to the bootstrap vat now (POST /peers: hasPeer, redeem, addPeer), as the config\'s peers are at start. ' +
        'With --forget, give up on a peer for good (POST /peers/forget): the promises it decided and the results of ' +
        'messages to it are rejected, its outbox is dropped, its frames are refused from then on',
    )
    .addOption(dataDirOption())
    .option('--add <name=url>', 'introduce the peer with this ocap URL under this name (waits for the peer to answer)', peerArgument)
    .addOption(
      new Option('--forget <name|peer-id>', 'forget the peer with this name in the config\'s peers, or with this peer id; prints what was dropped').conflicts('add'),
    )
    .addHelpText('after', exitCodesHelp.client)
    .action(async (options: { dataDir: string; add?: { name: string; url: string }; forget?: string }) => {
      process.exitCode = await withUserErrors(async () => {
        const files = dataDirFiles(options.dataDir);
        if (options.forget !== undefined) {
          process.stdout.write(`${JSON.stringify(await askNode(files, 'POST', '/peers/forget', { peer: options.forget }), null, 2)}\n`);
          return 0;
        }
        if (options.add === undefined) {
          process.stdout.write(`${JSON.stringify(await askNode(files, 'GET', '/peers'), null, 2)}\n`);
          return 0;
        }
        const answer = (await askNode(files, 'POST', '/peers', options.add)) as { introduced: boolean };
        process.stdout.write(`${options.add.name}: ${answer.introduced ? 'introduced' : 'already known to the bootstrap vat'}\n`);
        return 0;
      });
    });
}

function peerArgument(value: string): { name: string; url: string } {
  const [name = '', url = ''] = splitPeerEntry(value) ?? [];
  if (!nameSchema.safeParse(name).success || !ocapUrlSchema.safeParse(url).success) {
    throw new InvalidArgumentError(`expected name=ocap-url (a name of letters, digits, ".", "_" or "-"; the URL as \`ken-node url\` prints it), got ${JSON.stringify(value)}`);
  }
  return { name, url };
}
