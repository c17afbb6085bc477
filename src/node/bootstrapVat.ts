import type { Logger } from '../util/logger.js';
import { bundleVat } from '../vats/bundles.js';
import type { VatRuntime } from '../vats/vatInstance.js';
import type { KenNode, NodeServices } from './node.js';

/**
 * The bootstrap vat: the one vat `ken-node start` creates, from the module
 * the config names, and the object the node's ocap URLs name by default.
 * Its contract with the node (docs/operations.md):
 *
 * - `buildRootObject(vatPowers, parameters, baggage)` gets the config's
 *   `bootstrap.parameters` with `ocapUrls` added (the node's ocap URL
 *   service: `E(ocapUrls).issue(object)`, `E(ocapUrls).redeem(url)`), and
 *   the services the config lists (`vatAdmin` unless it says otherwise).
 * - If the config names peers, its root has `hasPeer(name) -> boolean` and
 *   `addPeer(name, presence)`; the node calls `addPeer` for each peer that
 *   `hasPeer` denies, so a vat that keeps its peers durably is told once.
 *   After a crash between the redeem and `addPeer`, the next start redeems
 *   again and calls `addPeer` then.
 * - Any other method of its root can be called through `POST /call`.
 */
export interface BootstrapSpec {
  vat: string;
  /** The vat's JavaScript module; bundled only at the first start. */
  source: string;
  parameters: Record<string, unknown>;
  /** What runs it; used only when the vat is created. */
  runtime: VatRuntime;
  /** Kernel services put in its parameters (besides `ocapUrls`); used only when the vat is created. */
  services: readonly (keyof NodeServices)[];
}

/** A vat's parameters: `parameters`, with the node's ocap URL service and each of `services` added under its name. */
export function withServices(node: KenNode, parameters: Record<string, unknown>, services: readonly (keyof NodeServices)[]): Record<string, unknown> {
  const given = Object.fromEntries(services.map((name) => [name, node.services[name]]));
  return { ...parameters, ocapUrls: node.services.ocapUrls, ...given };
}

/**
 * Creates a vat the config declares (the bootstrap vat, or one of `vats`)
 * at the first start that finds it missing (later starts find it restarted
 * by the kernel); returns its root, or undefined if the vat was terminated.
 * A node starts whatever its vats' state: a failed vat's root is there
 * (calls to it are rejected with the reason until a restart brings it
 * back), a terminated one has none; either is logged. Every such vat gets
 * the node's ocap URL service in its parameters, as `ocapUrls`, and the
 * services its spec names.
 */
export async function ensureVat(node: KenNode, spec: BootstrapSpec, logger: Logger): Promise<object | undefined> {
  if (!node.kernel.hasVat(spec.vat)) {
    const parameters = withServices(node, spec.parameters, spec.services);
    await node.kernel.createVat({ name: spec.vat, bundle: await bundleVat(spec.source), parameters, runtime: spec.runtime });
  }
  const state = node.kernel.vatState(spec.vat);
  if (state !== undefined && state.runtime !== spec.runtime) {
    logger.warn({ vat: spec.vat, runtime: state.runtime, configured: spec.runtime }, 'a configured vat runs on another runtime than the config says: a vat keeps the runtime it was created with');
  }
  if (state?.state === 'terminated') {
    logger.error({ vat: spec.vat, reason: state.reason }, 'a configured vat was terminated: the node runs without it');
    return undefined;
  }
  if (state?.state === 'failed') {
    logger.error({ vat: spec.vat, reason: state.reason }, 'a configured vat is failed: calls to it are rejected until a start restarts it');
  }
  return node.kernel.rootOf(spec.vat);
}

/**
 * Introduces one peer to the bootstrap vat: unless its root's `hasPeer(name)`
 * says it knows the name already, redeems `url` (which waits for that peer
 * to answer) and calls `addPeer(name, presence)`. True if it was introduced
 * now; throws if the redeem or either call fails.
 */
export async function introducePeer(node: KenNode, root: object, name: string, url: string): Promise<boolean> {
  if ((await node.kernel.call(root, 'hasPeer', [name])) === true) return false;
  const presence = await node.redeemUrl(url);
  await node.kernel.call(root, 'addPeer', [name, presence]);
  return true;
}

/**
 * Introduces each peer (name -> ocap URL), all at once: each one waits for
 * its own peer, which may take as long as that peer is unreachable; failures
 * are logged, not thrown.
 */
export async function introducePeers(node: KenNode, root: object, peers: Record<string, string>, logger: Logger): Promise<void> {
  await Promise.all(
    Object.entries(peers).map(async ([name, url]) => {
      try {
        if (await introducePeer(node, root, name, url)) logger.info({ peer: name }, 'peer introduced to the bootstrap vat');
      } catch (error) {
        logger.error(
          { peer: name, err: error },
          'could not introduce the peer to the bootstrap vat (its root needs hasPeer(name) and addPeer(name, presence))',
        );
      }
    }),
  );
}
