import type { KernelContext } from '../kernel/context.js';
import { encode, krefOf, presenceOf } from '../kernel/kmarshal.js';
import { rejectPromise, resolvePromise } from '../kernel/resolve.js';
import type { KernelService } from '../kernel/services.js';
import type { Transport } from '../net/transport.js';
import type { KPromiseRef, KRef } from '../store/types.js';
import { formatOcapUrl, newSwiss, parseOcapUrl, urlLifetimeMaxMs, type OcapUrl } from './ocapUrl.js';
import { makeRemoteTranslator } from './remoteTranslator.js';
import { appendToOutbox } from './router.js';
import type { Entropy } from '../util/random.js';


/**
 * Issues an ocap URL for `kref`, inside the crank: the swiss number is
 * recorded and the object pinned, for as long as the URL may be redeemed:
 * until it is revoked, or found expired `expiresInMs` from now (if given).
 */
export function issueOcapUrl(context: KernelContext, kref: KRef, transport: Transport, entropy: Entropy, expiresInMs?: number): string {
  if (expiresInMs !== undefined && !(Number.isSafeInteger(expiresInMs) && expiresInMs > 0 && expiresInMs <= urlLifetimeMaxMs)) {
    throw new RangeError(`an ocap URL's life must be a whole number of milliseconds from 1 to ${urlLifetimeMaxMs}, not ${String(expiresInMs)}`);
  }
  const swiss = newSwiss(entropy);
  context.store.peers.recordUrl(swiss, kref, expiresInMs === undefined ? null : context.clock.epochMs() + expiresInMs);
  context.refs.incref(kref);
  return formatOcapUrl({ swiss, peerId: transport.peerId, addresses: transport.addresses() });
}

/**
 * What a swiss number this node issued grants now: the object, or why its
 * redemption is refused (never issued, revoked, expired). A URL found
 * expired is revoked in this crank, releasing its object.
 */
export function grantOf(context: KernelContext, swiss: string): { kref: KRef } | { refusal: string } {
  const grant = context.store.peers.lookupUrl(swiss);
  if (grant === undefined) return { refusal: 'unknown ocap URL: this node never issued that swiss number' };
  if (grant.revoked !== null) return { refusal: `ocap URL refused: ${grant.revoked}` };
  if (grant.expiresAtMs !== null && context.clock.epochMs() >= grant.expiresAtMs) {
    const reason = `it expired at ${new Date(grant.expiresAtMs).toISOString()}`;
    revokeGrant(context, swiss, grant.kref as KRef, reason);
    return { refusal: `ocap URL refused: ${reason}` };
  }
  return { kref: grant.kref as KRef };
}

/**
 * Revokes `url`, one of this node's, inside the crank: its redemptions are
 * refused from then on (saying `reason`), and its object is no longer
 * pinned for it. References already redeemed keep working: they are
 * references, not the URL. False if it was revoked (or expired) already.
 */
export function revokeOcapUrl(context: KernelContext, url: OcapUrl, transport: Transport, reason: string): boolean {
  if (url.peerId !== transport.peerId) throw new TypeError(`the ocap URL names peer ${url.peerId}, not this node (${transport.peerId}): only its issuer can revoke it`);
  const grant = context.store.peers.lookupUrl(url.swiss);
  if (grant === undefined) throw new TypeError('unknown ocap URL: this node never issued that swiss number');
  if (grant.revoked !== null) return false;
  revokeGrant(context, url.swiss, grant.kref as KRef, reason);
  return true;
}

function revokeGrant(context: KernelContext, swiss: string, kref: KRef, reason: string): void {
  context.store.peers.revokeUrl(swiss, reason);
  context.refs.decref(kref);
}

/**
 * Redeems `url` inside the crank; `result` settles with the object it names.
 * For another node this is a `redeem` message in the outbox (exactly once,
 * like any other); the peer decides `result` from then on. A URL naming a
 * peer the transport would not connect to is rejected, and nothing of it stored.
 */
export function redeemOcapUrl(context: KernelContext, url: OcapUrl, result: KPromiseRef, transport: Transport): void {
  const { store } = context;
  if (url.peerId === transport.peerId) {
    const granted = grantOf(context, url.swiss);
    if ('refusal' in granted) rejectPromise(context, result, granted.refusal);
    else resolvePromise(context, result, false, encode(presenceOf(granted.kref)));
    return;
  }
  const refusal = transport.checkPeer(url.peerId, url.addresses);
  if (refusal !== undefined) {
    rejectPromise(context, result, `cannot redeem the ocap URL: ${refusal}`);
    return;
  }
  const peer = store.peers.ensure(url.peerId);
  if (peer.forgotten !== null) {
    rejectPromise(context, result, `cannot redeem the ocap URL: ${peer.forgotten}`);
    return;
  }
  store.peers.addAddresses(url.peerId, url.addresses);
  store.promises.setDecider(result, peer.endpoint);
  const wireResult = makeRemoteTranslator(context, peer.endpoint).toWire(result);
  appendToOutbox(context, peer.peerId, { kind: 'redeem', swiss: url.swiss, result: wireResult });
  // Where to dial, before the frame can be sent (post-commit actions run before transmission).
  if (url.addresses.length > 0) {
    context.buffer.postCommit.push(() => void transport.addPeerAddresses(url.peerId, url.addresses).catch(() => {}));
  }
}

/**
 * The kernel service vats get for ocap URLs: `issue(ref, { expiresInMs }?) -> url`,
 * `redeem(url) -> ref`, `revoke(url) -> boolean` (for a URL of this node).
 */
export function makeOcapUrlService(transport: Transport, entropy: Entropy): KernelService {
  return {
    invoke(context, method, args, result) {
      switch (method) {
        case 'issue': {
          const kref = krefOf(args[0]);
          if (kref === undefined) throw new TypeError('issue(target, options?): target must be a reference');
          const url = issueOcapUrl(context, kref, transport, entropy, issueOptions(args[1]).expiresInMs);
          if (result !== null) resolvePromise(context, result, false, encode(url));
          return;
        }
        case 'revoke': {
          if (typeof args[0] !== 'string') throw new TypeError('revoke(url): url must be a string');
          const revoked = revokeOcapUrl(context, parseOcapUrl(args[0]), transport, 'it was revoked through the ocap URL service');
          if (result !== null) resolvePromise(context, result, false, encode(revoked));
          return;
        }
        case 'redeem': {
          if (typeof args[0] !== 'string') throw new TypeError('redeem(url): url must be a string');
          if (result === null) throw new TypeError('redeem(url) needs a result promise');
          redeemOcapUrl(context, parseOcapUrl(args[0]), result, transport);
          return;
        }
        default:
          throw new TypeError(`the ocap URL service has no method ${JSON.stringify(method)} (it has issue, redeem, revoke)`);
      }
    },
  };
}

/** `issue`'s options: nothing, or `{ expiresInMs }`. */
function issueOptions(options: unknown): { expiresInMs?: number } {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Object.keys(options).some((key) => key !== 'expiresInMs')) {
    throw new TypeError('issue(target, options): options must be { expiresInMs }');
  }
  const { expiresInMs } = options as { expiresInMs?: unknown };
  if (expiresInMs !== undefined && typeof expiresInMs !== 'number') throw new TypeError('issue(target, { expiresInMs }): expiresInMs must be a number');
  return { expiresInMs };
}
