import type { KernelContext, RemoteRouter } from '../kernel/context.js';
import type { KernelMessage, KPromiseRef, KRef, RemoteId } from '../store/types.js';
import { assert } from '../util/assert.js';
import type { MessageBody } from './frames.js';
import { makeRemoteTranslator } from './remoteTranslator.js';

/**
 * Appends a body to a peer's outbox under the pair's next sequence number.
 * Called inside the crank that produced it: the row commits with the crank
 * or not at all, and is transmitted only after that COMMIT.
 */
export function appendToOutbox(context: KernelContext, endpoint: RemoteId, body: MessageBody): number {
  const peer = context.store.peers.byEndpoint(endpoint);
  assert(peer !== undefined, `no peer for ${endpoint}`);
  const seq = context.store.peers.takeSendSeq(peer.peerId);
  context.store.peers.appendOutbox(peer.peerId, seq, JSON.stringify(body));
  return seq;
}

/** The kernel's {@link RemoteRouter}: messages and notifications for peers become outbox rows. */
export const remoteRouter: RemoteRouter = {
  send(context: KernelContext, endpoint: RemoteId, target: KRef, message: KernelMessage): void {
    const translator = makeRemoteTranslator(context, endpoint);
    const wireTarget = translator.toWire(target);
    let result: string | null = null;
    if (message.result !== null) {
      // The peer that receives the message decides its result.
      context.store.promises.setDecider(message.result, endpoint);
      result = translator.toWire(message.result);
    }
    appendToOutbox(context, endpoint, {
      kind: 'deliver',
      target: wireTarget,
      methargs: translator.dataToWire(message.methargs),
      result,
    });
  },

  notify(context: KernelContext, endpoint: RemoteId, kpid: KPromiseRef): void {
    const promise = context.store.promises.get(kpid);
    assert(promise !== undefined && promise.state !== 'unresolved', `notify of unresolved ${kpid}`);
    const translator = makeRemoteTranslator(context, endpoint);
    appendToOutbox(context, endpoint, {
      kind: 'notify',
      resolutions: [[translator.toWire(kpid), promise.state === 'rejected', translator.dataToWire(promise.data)]],
    });
  },
};
