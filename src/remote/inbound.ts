import type { KernelContext } from '../kernel/context.js';
import { encode, presenceOf } from '../kernel/kmarshal.js';
import { rejectPromise, resolvePromise } from '../kernel/resolve.js';
import type { KPromiseRef, KRef, RemoteId } from '../store/types.js';
import type { MessageBody } from './frames.js';
import { makeRemoteTranslator, ProtocolError, type RemoteTranslator } from './remoteTranslator.js';

/**
 * Applies one message a peer sent, inside the crank that consumes its
 * sequence number: refs are translated, sends go to the run queue through
 * the crank buffer, and resolutions settle kernel promises. Anything the
 * protocol forbids throws {@link ProtocolError} and the crank rolls back.
 */
export function consumeMessage(context: KernelContext, endpoint: RemoteId, body: MessageBody, sabotagedRedelivery = false): void {
  const translator = makeRemoteTranslator(context, endpoint);
  switch (body.kind) {
    case 'deliver': {
      const target = translator.existing(body.target, 'target');
      const methargs = translator.dataFromWire(body.methargs);
      const result = body.result === null ? null : newResult(context, translator, endpoint, body.result, sabotagedRedelivery);
      const message = { methargs, result };
      context.refs.increfMessage(message, target);
      context.buffer.sends.push({ target, message });
      return;
    }
    case 'notify':
      for (const [ref, rejected, data] of body.resolutions) {
        const kref = translator.existing(ref, 'resolution of');
        const promise = kref.startsWith('kp') ? context.store.promises.get(kref as KPromiseRef) : undefined;
        if (promise?.state !== 'unresolved' || promise.decider !== endpoint) {
          throw new ProtocolError(`peer resolved ${ref}, which it does not decide`);
        }
        resolvePromise(context, promise.kpid, rejected, translator.dataFromWire(data));
      }
      return;
    case 'redeem': {
      const kpid = newResult(context, translator, endpoint, body.result, false);
      const kref = context.store.peers.lookupUrl(body.swiss);
      if (kref === undefined) {
        rejectPromise(context, kpid, 'unknown ocap URL: this node never issued that swiss number');
      } else {
        resolvePromise(context, kpid, false, encode(presenceOf(kref as KRef)));
      }
      return;
    }
    default:
      throw new ProtocolError(`unknown message kind ${JSON.stringify(body satisfies never)}`);
  }
}

/**
 * A result promise the peer allocated for a message it sent: new, decided
 * here, and the peer hears how it settles. A result already in use is a
 * second line of defence against consuming a message twice; the
 * `skip-dedup` sabotage turns it off too (a fresh promise nobody hears of),
 * so that the checker, not this check, has to catch the duplicate.
 */
function newResult(context: KernelContext, translator: RemoteTranslator, endpoint: RemoteId, ref: string, sabotagedRedelivery: boolean): KPromiseRef {
  if (!ref.startsWith('p+')) throw new ProtocolError(`result ${ref} is not a new promise of the peer`);
  const before = context.store.clist.byEref(endpoint, `p-${ref.slice(2)}`);
  if (before !== undefined && sabotagedRedelivery) return context.store.promises.create(null);
  if (before !== undefined) throw new ProtocolError(`result ${ref} is already in use`);
  const kpid = translator.fromWire(ref, { newPromiseDecider: null }) as KPromiseRef;
  context.store.promises.subscribe(kpid, endpoint);
  return kpid;
}
