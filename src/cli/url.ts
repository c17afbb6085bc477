import { Command, InvalidArgumentError, Option } from 'commander';
import { askNode } from '../admin/client.js';
import { dataDirFiles } from '../config/dataDir.js';
import { urlLifetimeMaxMs } from '../remote/ocapUrl.js';
import { dataDirOption } from './configOptions.js';
import { exitCodesHelp, withUserErrors } from './exitCodes.js';
import { duration, vatName } from './options.js';

/** `ken-node url`: a new ocap URL for a vat's root object on the running node, or the revocation of one. */
export function urlCommand(): Command {
  return new Command('url')
    .description(
      'issue a new ocap URL for the root object of the running node\'s bootstrap vat (or of --vat) and print it (POST /url). ' +
        'Whoever holds the URL can redeem it, any number of times, until it expires (--expires) or is revoked (--revoke URL: ' +
        'POST /url/revoke); a redemption after that is refused, saying which. References redeemed before keep working. ' +
        'Share a URL as a capability.',
    )
    .addOption(dataDirOption())
    .addHelpText('after', exitCodesHelp.client)
    .option('--vat <name>', 'the vat whose root the URL names (default: the bootstrap vat)', vatName)
    .option('--expires <duration>', 'the URL expires this long after it is issued: e.g. 90s, 30m, 1h, 7d (default: never)', urlLifetime)
    .addOption(new Option('--revoke <ocap-url>', 'revoke this URL, which this node issued, instead of issuing one').conflicts(['vat', 'expires']))
    .action(async (options: { dataDir: string; vat?: string; expires?: number; revoke?: string }) => {
      process.exitCode = await withUserErrors(async () => {
        const files = dataDirFiles(options.dataDir);
        if (options.revoke !== undefined) {
          const answer = (await askNode(files, 'POST', '/url/revoke', { url: options.revoke })) as { revoked: boolean };
          process.stdout.write(answer.revoked ? 'revoked\n' : 'revoked already (or expired): nothing changed\n');
          return 0;
        }
        const answer = (await askNode(files, 'POST', '/url', { vat: options.vat, expiresInMs: options.expires })) as { url: string };
        process.stdout.write(`${answer.url}\n`);
        return 0;
      });
    });
}

function urlLifetime(value: string): number {
  const ms = duration(value);
  if (!Number.isSafeInteger(ms) || ms > urlLifetimeMaxMs) throw new InvalidArgumentError(`expected a whole number of milliseconds up to ten years, got ${JSON.stringify(value)}`);
  return ms;
}
