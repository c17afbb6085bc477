import type { KernelContext } from '../kernel/context.js';
import { encode, krefOf, presenceOf } from '../kernel/kmarshal.js';
import { rejectPromise, resolvePromise } from '../kernel/resolve.js';
import type { KernelService } from '../kernel/services.js';
import type { Transport } from '../net/transport.js';
import type { KPromiseRef, KRef } from '../store/types.js';
import { formatOcapUrl, newSwiss, parseOcapUrl, type OcapUrl } from './ocapUrl.js';
import { makeRemoteTranslator } from './remoteTranslator.js';
import { appendToOutbox } from './router.js';
import type { Entropy } from '../util/random.js';

/**
 * Issues an ocap URL for `kref`, inside the crank: the swiss number is
 * recorded and the object pinned, for as long as the URL may be redeemed.
 */
export function issueOcapUrl(context: KernelContext, kref: KRef, transport: Transport, entropy: Entropy): string {
  const swiss = newSwiss(entropy);
  context.store.peers.recordUrl(swiss, kref);
  context.refs.incref(kref);
  return formatOcapUrl({ swiss, peerId: transport.peerId, addresses: transport.addresses() });
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
    const kref = store.peers.lookupUrl(url.swiss);
    if (kref === undefined) rejectPromise(context, result, 'unknown ocap URL: this node never issued that swiss number');
    else resolvePromise(context, result, false, encode(presenceOf(kref as KRef)));
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

/** The kernel service a bootstrap vat gets for ocap URLs: `issue(ref) -> url`, `redeem(url) -> ref`. */
export function makeOcapUrlService(transport: Transport, entropy: Entropy): KernelService {
  return {
    invoke(context, method, args, result) {
      switch (method) {
        case 'issue': {
          const kref = krefOf(args[0]);
          if (kref === undefined) throw new TypeError('issue(target): target must be a reference');
          const url = issueOcapUrl(context, kref, transport, entropy);
          if (result !== null) resolvePromise(context, result, false, encode(url));
          return;
        }
        case 'redeem': {
          if (typeof args[0] !== 'string') throw new TypeError('redeem(url): url must be a string');
          if (result === null) throw new TypeError('redeem(url) needs a result promise');
          redeemOcapUrl(context, parseOcapUrl(args[0]), result, transport);
          return;
        }
        default:
          throw new TypeError(`the ocap URL service has no method ${JSON.stringify(method)} (it has issue, redeem)`);
      }
    },
  };
}
