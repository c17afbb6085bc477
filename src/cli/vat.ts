import { existsSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { askNode } from '../admin/client.js';
import { dataDirFiles, type DataDirFiles } from '../config/dataDir.js';
import { vatServiceNames, type VatServiceName } from '../config/schema.js';
import type { VatFootprint } from '../kernel/vatOps.js';
import { dataDirOption } from './configOptions.js';
import { exitCodesHelp, withUserErrors } from './exitCodes.js';
import { vatName, vatRuntime } from './options.js';

/**
 * `ken-node vat list|create|upgrade|terminate`: the running node's vats, as
 * its operator manages them through the admin endpoint. Each operation is
 * committed by the node before it answers (docs/operations.md, "Vats at
 * run time"). `ken-node vats [--terminate NAME]`, from before, stays as a
 * shorthand of `vat list` and `vat terminate NAME --yes`.
 */
export function vatCommand(): Command {
  const vat = new Command('vat').description(
    'manage the running node\'s vats: list them, create one from a source file, upgrade one to a new source (keeping its ' +
      'durable state, or keeping the previous version if the new one fails), terminate one (deleting its state)',
  );
  vat.addCommand(
    clientCommand('list', 'print the running node\'s vats as JSON (GET /vats): name, id, state (live, failed, terminated), why, runtime').action(
      async (options: { dataDir: string }) => run(async () => printJson(await askNode(dataDirFiles(options.dataDir), 'GET', '/vats'))),
    ),
  );
  vat.addCommand(
    clientCommand(
      'create',
      'bundle FILE and create the vat NAME from it on the running node (POST /vats); prints the new vat as JSON once its start is ' +
        'committed. Its parameters get ocapUrls and each --service. The file may live anywhere: one outside any package imports ' +
        '@endo/* from ken-node\'s own dependencies. A vat that fails to start is not created (exit 1, with why)',
    )
      .argument('<name>', 'the new vat\'s name: 1 to 64 letters, digits, ".", "_" or "-"', vatName)
      .requiredOption('--source <file>', 'the vat\'s JavaScript module', sourceFile)
      .option('--runtime <runtime>', 'what runs its code: liveslots or lean (default liveslots)', vatRuntime)
      .option('--parameters <json>', 'a JSON object given to its buildRootObject', parametersObject)
      .option('--service <name>', `a kernel service to put in its parameters (${vatServiceNames.join(' or ')}); repeat for more`, collectService)
      .action(async (name: string, options: { dataDir: string; source: string; runtime?: string; parameters?: Record<string, unknown>; service?: VatServiceName[] }) =>
        run(async () => {
          const body = { name, source: options.source, runtime: options.runtime, parameters: options.parameters, services: options.service };
          printJson(await askNode(dataDirFiles(options.dataDir), 'POST', '/vats', body));
        }),
      ),
  );
  vat.addCommand(
    clientCommand(
      'upgrade',
      'bundle FILE and restart the vat NAME on it, in one crank, keeping its durable state (POST /vats/upgrade): the new version ' +
        'must define again every durable kind the vat made. If it fails (it does not bundle, buildRootObject throws, a kind is ' +
        'left out) nothing changes: the previous version runs on with its state untouched, and the command says why (exit 1). ' +
        'Peers\' references to the vat\'s durable objects keep working; its other objects are lost, as at a restart. A failed vat ' +
        'upgraded this way is live again',
    )
      .argument('<name>', 'the vat to upgrade', vatName)
      .requiredOption('--source <file>', 'the new version\'s JavaScript module', sourceFile)
      .action(async (name: string, options: { dataDir: string; source: string }) =>
        run(async () => printJson(await askNode(dataDirFiles(options.dataDir), 'POST', '/vats/upgrade', { vat: name, source: options.source }))),
      ),
  );
  vat.addCommand(
    clientCommand(
      'terminate',
      'end the vat NAME for good (POST /vats/terminate): its vatstore, c-list and durable objects are deleted, the promises it ' +
        'decides are rejected, and messages to it are rejected from then on. Without --yes it only says what that would delete ' +
        '(exit 2)',
    )
      .argument('<name>', 'the vat to terminate', vatName)
      .option('--yes', 'terminate it: without this the command only says what would be deleted')
      .option('--reason <text>', 'why, as messages to it will be told (default "terminated by the operator")')
      .action(async (name: string, options: { dataDir: string; yes?: boolean; reason?: string }) =>
        run(() => terminate(dataDirFiles(options.dataDir), name, options.yes === true, options.reason)),
      ),
  );
  return vat;
}

/** `ken-node vats [--terminate NAME]`: from before `vat`; the same as `vat list`, and `vat terminate NAME --yes`. */
export function vatsCommand(): Command {
  return clientCommand(
    'vats',
    'the same as `ken-node vat list`; with --terminate NAME, as `ken-node vat terminate NAME --yes` (kept from before the vat command)',
  )
    .option('--terminate <name>', 'terminate the vat with this name, deleting its state', vatName)
    .action(async (options: { dataDir: string; terminate?: string }) =>
      run(async () => {
        const files = dataDirFiles(options.dataDir);
        if (options.terminate === undefined) printJson(await askNode(files, 'GET', '/vats'));
        else await terminate(files, options.terminate, true, undefined);
      }),
    );
}

function clientCommand(name: string, description: string): Command {
  return new Command(name).description(description).addOption(dataDirOption()).addHelpText('after', exitCodesHelp.client);
}

/** Says what terminating the vat deletes; terminates it only if `confirmed`. */
async function terminate(files: DataDirFiles, name: string, confirmed: boolean, reason: string | undefined): Promise<number> {
  const footprint = (await askNode(files, 'POST', '/vats/describe', { vat: name })) as VatFootprint;
  if (!confirmed) {
    process.stderr.write(`ken-node: terminating ${describeLoss(footprint, 'would delete')}\nken-node: nothing was done: run again with --yes to terminate it\n`);
    return 2;
  }
  const state = await askNode(files, 'POST', '/vats/terminate', { vat: name, reason });
  process.stderr.write(`ken-node: terminated ${describeLoss(footprint, 'deleted')}\n`);
  printJson(state);
  return 0;
}

function describeLoss(vat: VatFootprint, verb: string): string {
  return (
    `vat ${JSON.stringify(vat.name)} (${vat.vatId}, ${vat.state}) ${verb} for good: its ${vat.vatstoreEntries} vatstore entries (baggage, ` +
    `durable stores, durable objects' state), its ${vat.exportedObjects} exported objects (${vat.durableObjects} durable; whoever holds ` +
    `them, peers included, gets rejections from then on), its hold on ${vat.importedObjects} objects of others, and the ` +
    `${vat.decidedPromises} promises it decides (rejected)`
  );
}

async function run(work: () => Promise<number | void>): Promise<void> {
  process.exitCode = await withUserErrors(async () => (await work()) ?? 0);
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A source file that exists, made absolute (the node bundles it, from its own working directory). */
function sourceFile(value: string): string {
  const absolute = path.resolve(value);
  if (!existsSync(absolute)) throw new InvalidArgumentError(`${absolute} does not exist`);
  return absolute;
}

function parametersObject(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError(`expected a JSON object, got ${JSON.stringify(value)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError(`expected a JSON object, got ${JSON.stringify(value)}`);
  return parsed as Record<string, unknown>;
}

function collectService(value: string, previous: VatServiceName[] | undefined): VatServiceName[] {
  if (!(vatServiceNames as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${vatServiceNames.join(', ')}, got ${JSON.stringify(value)}`);
  return [...(previous ?? []), value as VatServiceName];
}
