import path from 'node:path';
import { z } from 'zod';
import { nameSchema, vatServiceNames } from '../config/schema.js';
import { vatFootprint } from '../kernel/vatOps.js';
import { withServices } from '../node/bootstrapVat.js';
import type { KenNode } from '../node/node.js';
import { bundleSourceFile } from '../vats/bundles.js';
import { vatRuntimes } from '../vats/vatInstance.js';
import { vatStatesOf } from './nodeStatus.js';
import { AdminRequestError, parse, refusalReply, type Reply, type Route } from './routes.js';

const sourceSchema = z.string().min(1).max(4096).refine((source) => path.isAbsolute(source), { error: 'an absolute path' });
const createRequest = z.strictObject({
  name: nameSchema,
  source: sourceSchema,
  runtime: z.enum(vatRuntimes).default('liveslots'),
  parameters: z.record(z.string(), z.json()).default({}),
  services: z.array(z.enum(vatServiceNames)).max(vatServiceNames.length).default([]),
});
const upgradeRequest = z.strictObject({ vat: nameSchema, source: sourceSchema });
const terminateRequest = z.strictObject({ vat: nameSchema, reason: z.string().min(1).max(1024).default('terminated by the operator') });
const describeRequest = z.strictObject({ vat: nameSchema });

/**
 * The vat routes of the admin API: list, describe, create, upgrade and
 * terminate (docs/operations.md, "Vats at run time"). A source is bundled
 * by the node, from the path the client gives (the CLI makes it absolute);
 * each operation answers once the crank that carried it out is committed.
 */
export function vatRoutes(node: KenNode): Record<string, Route> {
  const stateOf = (name: string) => vatStatesOf(node).find((vat) => vat.name === name);
  /** The vat called `name`, which must be there and not terminated: 404 and 409 otherwise. */
  const existing = (name: string) => {
    const vat = stateOf(name);
    if (vat === undefined) throw new AdminRequestError(404, `no vat named ${JSON.stringify(name)}`);
    if (vat.state === 'terminated') throw new AdminRequestError(409, `vat ${JSON.stringify(name)} was terminated: ${vat.reason}`);
    return vat;
  };
  /** Runs a vat operation: its answer, or a 422 saying why it was refused (nothing of it was done). */
  const operation = async (name: string, run: () => Promise<unknown>): Promise<Reply> => {
    try {
      await run();
    } catch (refusal) {
      return refusalReply(refusal);
    }
    return { status: 200, json: stateOf(name) };
  };
  return {
    'GET /vats': async () => ({ status: 200, json: vatStatesOf(node) }),
    /** What the vat holds: what terminating it would delete. */
    'POST /vats/describe': async (body) => {
      const request = parse(describeRequest, body);
      const footprint = vatFootprint(node.store, request.vat);
      if (footprint === undefined) throw new AdminRequestError(404, `no vat named ${JSON.stringify(request.vat)}`);
      return { status: 200, json: footprint };
    },
    'POST /vats': async (body) => {
      const request = parse(createRequest, body);
      if (stateOf(request.name) !== undefined) throw new AdminRequestError(409, `a vat named ${JSON.stringify(request.name)} already exists`);
      return operation(request.name, async () => {
        const bundle = await bundleSourceFile(request.source);
        const parameters = withServices(node, request.parameters, request.services);
        await node.kernel.createVat({ name: request.name, bundle, parameters, runtime: request.runtime });
      });
    },
    'POST /vats/upgrade': async (body) => {
      const request = parse(upgradeRequest, body);
      existing(request.vat);
      return operation(request.vat, async () => node.kernel.upgradeVat(request.vat, await bundleSourceFile(request.source)));
    },
    /** Ends a vat for good, deleting its state: the operator's decision, never the kernel's. */
    'POST /vats/terminate': async (body) => {
      const request = parse(terminateRequest, body);
      existing(request.vat);
      return operation(request.vat, () => node.kernel.terminateVat(request.vat, request.reason));
    },
  };
}
