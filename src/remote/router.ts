import type { KernelContext, RemoteRouter } from '../kernel/context.js';
import type { KernelMessage, KPromiseRef, KRef, RemoteId } from '../store/types.js';
import { rejectPromise } from '../kernel/resolve.js';
import { assert } from '../util/assert.js';
import type { MessageBody, MessageContent } from './frames.js';
import { makeRemoteTranslator } from './remoteTranslator.js';

/**
 * Appends a body to a peer's outbox under the pair's next sequence number,
 * with `seen`: the highest seq of the peer's messages consumed as the store
 * has it now, in the crank that also translated the body's refs (the peer
 * retires refs by it: docs/protocol.md, "Promise retirement"). Called
 * inside the crank that produced it: the row commits with the crank or not
 * at all, and is transmitted only after that COMMIT.
 */
export function appendToOutbox(context: KernelContext, peerId: string, content: MessageContent): number {
  return appendRow(context, peerId, (seen) => ({ json: JSON.stringify({ ...content, seen }) }));
}

/** Appends the body `make(seen)` gives as JSON under the pair's next seq (see {@link appendToOutbox}), with what it gives the router to read back. */
function appendRow(context: KernelContext, peerId: string, make: (seen: number) => { json: string; joinable?: JoinableNotify }): number {
  const { peers, outbox } = context.store;
  const peer = peers.get(peerId);
  assert(peer !== undefined, `append to the outbox of unknown peer ${peerId}`);
  const seq = peers.takeSendSeq(peerId);
  const { json, joinable } = make(peer.receivedSeq);
  outbox.append(peerId, seq, json, joinable);
  return seq;
}

/**
 * The most UTF-8 bytes of a notify body that resolutions are added to: the
 * frame around it (seq, ack, window, pair tag) stays under the smallest
 * frame a peer may be configured to take (`maxFrameBytes`, 1 KiB at least),
 * so joining resolutions never makes a frame the peer refuses where the
 * frames apart would have passed.
 */
export const maxJoinedNotifyBytes = 768;

/**
 * What the router keeps with a notify row it appended, to join more
 * resolutions to it without parsing or stringifying what the row holds:
 * its resolutions as JSON, comma-separated, and the body's length in
 * UTF-8 bytes (joining is linear in the resolutions, not quadratic).
 */
interface JoinableNotify {
  readonly kind: 'notify';
  readonly seen: number;
  readonly resolutionsJson: string;
  readonly bytes: number;
}

/** A notify body as JSON: the same JSON a frame's schema reads as `{ kind: 'notify', resolutions, seen }`. */
const notifyJson = (resolutionsJson: string, seen: number) => `{"kind":"notify","resolutions":[${resolutionsJson}],"seen":${seen}}`;

/**
 * Adds a resolution to the peer's last outbox row, if that is a notify
 * appended since the last COMMIT (not sent yet) with the same `seen`, and
 * stays within {@link maxJoinedNotifyBytes}; returns its seq, or undefined
 * if not. The peer then consumes the same resolutions, in the same order,
 * against the same `seen`, as it would from the frames apart (the row
 * joined is the last one for the peer, so nothing comes between): one
 * frame, one outbox row and one ack for a run of results instead of one
 * each.
 */
function joinLastNotify(context: KernelContext, peerId: string, seen: number, resolutionJson: string): number | undefined {
  const { outbox } = context.store;
  const last = outbox.lastAppended(peerId);
  const joinable = last?.kept as JoinableNotify | undefined;
  if (last === undefined || joinable?.kind !== 'notify' || joinable.seen !== seen) return undefined;
  // One comma more, and the resolution.
  const bytes = joinable.bytes + 1 + Buffer.byteLength(resolutionJson);
  if (bytes > maxJoinedNotifyBytes) return undefined;
  const resolutionsJson = `${joinable.resolutionsJson},${resolutionJson}`;
  outbox.rewriteLast(peerId, last.seq, notifyJson(resolutionsJson, seen), { kind: 'notify', seen, resolutionsJson, bytes } satisfies JoinableNotify);
  return last.seq;
}

/** Appends a notify row of one resolution, which later ones may join. */
function appendNotify(context: KernelContext, peerId: string, resolutionJson: string): number {
  return appendRow(context, peerId, (seen) => {
    const json = notifyJson(resolutionJson, seen);
    return { json, joinable: { kind: 'notify', seen, resolutionsJson: resolutionJson, bytes: Buffer.byteLength(json) } };
  });
}

type NotifyResolution = Extract<MessageBody, { kind: 'notify' }>['resolutions'][number];

function peerOf(context: KernelContext, endpoint: RemoteId) {
  const peer = context.store.peers.byEndpoint(endpoint);
  assert(peer !== undefined, `no peer for ${endpoint}`);
  return peer;
}

/** Whom a router tells what it did not simply send (counters, log lines). */
export interface RouterListener {
  /** A send with a result was refused for a full outbox (its result rejected). */
  refused(peerId: string, unacked: number): void;
  /** A send-only message went into an outbox already at its limit. */
  heldAboveLimit(peerId: string, unacked: number): void;
  /** A send-only message to a peer the operator forgot was dropped. */
  droppedForForgotten(peerId: string, reason: string): void;
}

/**
 * The kernel's {@link RemoteRouter}: messages and notifications for peers
 * become outbox rows. A send to a peer with `maxUnacked` rows already
 * waiting for its ack is refused instead: its result promise is rejected,
 * so the sender sees the refusal; nothing is lost silently, and a peer that
 * never acks cannot make this node hold more than `maxUnacked` messages
 * (and the sending vats their pending results) for it.
 *
 * A send-only message has no result to reject, so it is never refused: it
 * is held in the outbox above the limit (sent as the peer's window allows,
 * like any row), counted and logged. Its cost stays with the vats that send
 * it, visible in the outbox depth and age; `ken-node peers --forget` ends it
 * for a peer that is gone. Notifications are never refused either: each
 * answers a message the peer sent, and refusing one would leave the peer's
 * promise unsettled for good. Nothing goes to a peer the operator forgot: a
 * send's result is rejected with the reason, a send-only message dropped
 * and counted (the operator chose to end the conversation).
 */
export function makeRemoteRouter(maxUnacked: number, listener: RouterListener): RemoteRouter {
  return {
    send(context: KernelContext, endpoint: RemoteId, target: KRef, message: KernelMessage): void {
      const peer = peerOf(context, endpoint);
      if (peer.forgotten !== null) {
        if (message.result !== null) rejectPromise(context, message.result, `not sent: ${peer.forgotten}`);
        else listener.droppedForForgotten(peer.peerId, peer.forgotten);
        return;
      }
      const unacked = peer.nextSendSeq - 1 - peer.ackedSeq;
      if (unacked >= maxUnacked) {
        if (message.result === null) {
          listener.heldAboveLimit(peer.peerId, unacked);
        } else {
          rejectPromise(
            context,
            message.result,
            `not sent: ${unacked} messages to peer ${peer.peerId} are waiting for its acknowledgement (the limit is ${maxUnacked}); send again later`,
          );
          listener.refused(peer.peerId, unacked);
          return;
        }
      }
      const translator = makeRemoteTranslator(context, endpoint);
      const wireTarget = translator.toWire(target);
      let result: string | null = null;
      if (message.result !== null) {
        // The peer that receives the message decides its result.
        context.store.promises.setDecider(message.result, endpoint);
        result = translator.toWire(message.result);
      }
      appendToOutbox(context, peer.peerId, {
        kind: 'deliver',
        target: wireTarget,
        methargs: translator.dataToWire(message.methargs),
        result,
      });
    },

    notify(context: KernelContext, endpoint: RemoteId, kpid: KPromiseRef): void {
      const promise = context.store.promises.get(kpid);
      assert(promise !== undefined && promise.state !== 'unresolved', `notify of unresolved ${kpid}`);
      const peer = peerOf(context, endpoint);
      // A forgotten peer hears nothing more; what it was owed went with it.
      if (peer.forgotten !== null) return;
      const translator = makeRemoteTranslator(context, endpoint);
      const resolution: NotifyResolution = [translator.toWire(kpid), promise.state === 'rejected', translator.dataToWire(promise.data)];
      const resolutionJson = JSON.stringify(resolution);
      const seq = joinLastNotify(context, peer.peerId, peer.receivedSeq, resolutionJson) ?? appendNotify(context, peer.peerId, resolutionJson);
      // The peer retires the ref as it consumes the notify; this node names the promise anew from now on.
      translator.retire(kpid, seq);
    },
  };
}
