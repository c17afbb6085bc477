import type { VatBundle } from '../vats/bundles.js';
import { vatRuntimes, type VatRuntime } from '../vats/vatInstance.js';
import type { KernelContext } from './context.js';
import { encode } from './kmarshal.js';
import { resolvePromise } from './resolve.js';
import type { KernelService } from './services.js';
import { isName, nameRule } from './vatNames.js';
import { queueVatOp, vatSummaries } from './vatOps.js';

/**
 * The vat-admin service (SwingSet's vatAdmin, for ken-node): what the
 * bootstrap vat is given to make, upgrade and end vats at run time. A vat
 * cannot read files, so it names its code by one of the bundles the
 * operator listed in the config (`bundles`), which the node bundles at
 * each start; a vat keeps the code it was made or upgraded with.
 *
 * - `createVat(name, { bundle, parameters?, runtime? })` resolves with
 *   `{ name, vatId, root }` once the vat started (its root to talk to),
 *   or rejects saying why (the name is taken, it failed to start).
 * - `upgradeVat(name, { bundle })` resolves with `{ name, vatId }` once
 *   the vat runs the new code on its durable state, or rejects saying why
 *   the previous version runs on.
 * - `terminateVat(name, reason?)` resolves with `{ name, vatId }` once the
 *   vat and its state are gone.
 * - `vats()`: every vat, `{ name, vatId, state, reason, runtime }`;
 *   `bundles()`: the names `createVat` and `upgradeVat` take.
 *
 * Each operation is queued in the crank of the message and carried out in
 * a crank of its own (vatOps.ts): exactly once, whatever crashes. It is a
 * powerful object: whoever holds it can end any vat of the node.
 */
export function makeVatAdminService(bundles: ReadonlyMap<string, VatBundle>): KernelService {
  const bundleOf = (options: Record<string, unknown>, what: string): VatBundle => {
    const name = options.bundle;
    const bundle = typeof name === 'string' ? bundles.get(name) : undefined;
    if (bundle === undefined) {
      const known = [...bundles.keys()].join(', ') || 'none: list them in the config\'s bundles';
      throw new TypeError(`${what}: bundle must name one of the node's bundles (${known}), not ${JSON.stringify(name)}`);
    }
    return bundle;
  };
  return {
    invoke(context: KernelContext, method: string, args: unknown[], result) {
      switch (method) {
        case 'createVat': {
          const what = 'createVat(name, { bundle, parameters?, runtime? })';
          const name = vatNameOf(args[0], what);
          const options = optionsOf(args[1], what, ['bundle', 'parameters', 'runtime']);
          const bundle = bundleOf(options, what);
          const runtime = runtimeOf(options.runtime, what);
          const parameters = options.parameters ?? {};
          if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) throw new TypeError(`${what}: parameters must be a record`);
          queueVatOp(context, { kind: 'create', vatName: name, bundleHash: bundle.hash, runtime, parameters: encode(parameters) }, result, bundle);
          return;
        }
        case 'upgradeVat': {
          const what = 'upgradeVat(name, { bundle })';
          const name = vatNameOf(args[0], what);
          const bundle = bundleOf(optionsOf(args[1], what, ['bundle']), what);
          queueVatOp(context, { kind: 'upgrade', vatName: name, bundleHash: bundle.hash }, result, bundle);
          return;
        }
        case 'terminateVat': {
          const what = 'terminateVat(name, reason?)';
          const name = vatNameOf(args[0], what);
          const reason = args[1] ?? 'terminated through the vat-admin service';
          if (typeof reason !== 'string' || reason.length > 1024) throw new TypeError(`${what}: reason must be text of at most 1024 characters`);
          queueVatOp(context, { kind: 'terminate', vatName: name, reason }, result);
          return;
        }
        case 'vats':
          if (result !== null) resolvePromise(context, result, false, encode(vatSummaries(context.store)));
          return;
        case 'bundles':
          if (result !== null) resolvePromise(context, result, false, encode([...bundles.keys()]));
          return;
        default:
          throw new TypeError(`the vat-admin service has no method ${JSON.stringify(method)} (it has createVat, upgradeVat, terminateVat, vats, bundles)`);
      }
    },
  };
}

function vatNameOf(value: unknown, what: string): string {
  if (!isName(value)) throw new TypeError(`${what}: name must be ${nameRule}, not ${JSON.stringify(value)}`);
  return value;
}

function optionsOf(value: unknown, what: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${what}: the options must be a record`);
  const unknown = Object.keys(value).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) throw new TypeError(`${what}: unknown options ${unknown.join(', ')}`);
  return value as Record<string, unknown>;
}

function runtimeOf(value: unknown, what: string): VatRuntime {
  if (value === undefined) return 'liveslots';
  if (!(vatRuntimes as readonly unknown[]).includes(value)) throw new TypeError(`${what}: runtime must be one of ${vatRuntimes.join(', ')}`);
  return value as VatRuntime;
}
