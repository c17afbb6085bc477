import { CapDataError, checkCapData, checkMethargs, type SlotKind } from '../kernel/capdataCheck.js';
import type { KernelContext } from '../kernel/context.js';
import { encode, errorCapData, presenceOf } from '../kernel/kmarshal.js';
import { rejectPromise, resolvePromise } from '../kernel/resolve.js';
import type { CapData, KPromiseRef, KRef, RemoteId } from '../store/types.js';
import type { MessageBody } from './frames.js';
import { grantOf } from './ocapUrlService.js';
import { makeRemoteTranslator, type RemoteTranslator } from './remoteTranslator.js';

/**
 * Applies one message a peer sent, inside the crank that consumes its
 * sequence number. Everything the message names is checked before anything
 * is applied: its target, its result, and its arguments (well-formed
 * capdata within bounds, slots matching the body, each slot naming only
 * what this node gave the peer or a new export of the peer's own). A
 * message that fails is refused alone: nothing of it is applied, its
 * result (if it names a usable one) is rejected back to the sender with
 * the reason, and the session goes on. Refused or not, its `seen`
 * retires the refs of promises this node notified the peer of up to there
 * (docs/protocol.md, "Promise retirement"), if `seenCounts` (receiveRule.ts
 * says when it does). Returns the reasons of the refusals, for the caller
 * to count and log.
 */
export function consumeMessage(context: KernelContext, endpoint: RemoteId, body: MessageBody, seenCounts: boolean): string[] {
  const translator = makeRemoteTranslator(context, endpoint);
  const refusals = consumeBody(context, translator, endpoint, body);
  // The peer made it having consumed what `seen` says: the refs of promises this node notified it of up to there go.
  if (seenCounts) translator.retireThrough(body.seen);
  return refusals;
}

/** The peer had consumed this node's messages up to `seen`, and this node every message the peer made before: the refs of the promises notified up to there retire (an ack's, receiveRule.ts). */
export function retireThrough(context: KernelContext, endpoint: RemoteId, seen: number): void {
  makeRemoteTranslator(context, endpoint).retireThrough(seen);
}

function consumeBody(context: KernelContext, translator: RemoteTranslator, endpoint: RemoteId, body: MessageBody): string[] {
  switch (body.kind) {
    case 'deliver':
      return consumeDeliver(context, translator, endpoint, body);
    case 'notify':
      return body.resolutions.flatMap(([ref, rejected, data]) => consumeResolution(context, translator, endpoint, ref, rejected, data));
    case 'redeem': {
      const resultRefusal = resultProblem(translator, body.result);
      if (resultRefusal !== undefined) return [resultRefusal];
      const kpid = newResult(context, translator, endpoint, body.result);
      const granted = grantOf(context, body.swiss);
      if ('refusal' in granted) rejectPromise(context, kpid, granted.refusal);
      else resolvePromise(context, kpid, false, encode(presenceOf(granted.kref)));
      return [];
    }
    default:
      throw new Error(`unknown message kind ${JSON.stringify(body satisfies never)}`);
  }
}

function consumeDeliver(
  context: KernelContext,
  translator: RemoteTranslator,
  endpoint: RemoteId,
  body: Extract<MessageBody, { kind: 'deliver' }>,
): string[] {
  if (body.result !== null) {
    // A result that is not the peer's new promise cannot be answered: the refusal is ours to log alone.
    const resultRefusal = resultProblem(translator, body.result);
    if (resultRefusal !== undefined) return [resultRefusal];
  }
  const checked = checkDeliver(translator, body);
  const result = body.result === null ? null : newResult(context, translator, endpoint, body.result);
  if ('refusal' in checked) {
    if (result !== null) rejectPromise(context, result, `message refused by the receiving node: ${checked.refusal}`);
    return [checked.refusal];
  }
  const { target } = checked;
  const message = { methargs: translator.dataFromWire(body.methargs), result };
  context.refs.increfMessage(message, target);
  context.buffer.sends.push({ target, message });
  return [];
}

/** The kref a `deliver` is for, if the peer may send it there with those arguments; else why not. */
function checkDeliver(translator: RemoteTranslator, body: Extract<MessageBody, { kind: 'deliver' }>): { target: KRef } | { refusal: string } {
  const target = translator.lookup(body.target);
  if (target === undefined) return { refusal: `target ${body.target} names nothing this node gave the peer` };
  const problem = argumentsProblem(translator, body.methargs, 'methargs');
  return problem === undefined ? { target } : { refusal: problem };
}

/**
 * One resolution of a `notify`: of a promise the peer decides and that is
 * still unresolved, or it is refused. Data this node cannot use rejects the
 * promise instead (the peer decided it, and will not decide it again), so
 * whoever waits on it hears why.
 */
function consumeResolution(context: KernelContext, translator: RemoteTranslator, endpoint: RemoteId, ref: string, rejected: boolean, data: CapData): string[] {
  const kref = translator.lookup(ref);
  const promise = kref?.startsWith('kp') === true ? context.store.promises.get(kref as KPromiseRef) : undefined;
  if (promise?.state !== 'unresolved' || promise.decider !== endpoint) return [`peer resolved ${ref}, which it does not decide`];
  const problem = argumentsProblem(translator, data, 'resolution');
  if (problem !== undefined) {
    resolvePromise(context, promise.kpid, true, errorCapData(`the peer's resolution of ${promise.kpid} was refused: ${problem}`));
  } else {
    resolvePromise(context, promise.kpid, rejected, translator.dataFromWire(data));
  }
  translator.forgetSettled(promise.kpid);
  return problem === undefined ? [] : [problem];
}

/** The kind of a wire ref (`o±N`, `p±N`; the frame schema has checked the form). */
function wireSlotKind(slot: string): SlotKind {
  return slot.startsWith('o') ? 'object' : 'promise';
}

/** Why capdata from the peer cannot be used, if it cannot: its form, or a slot naming what the peer was never given. */
function argumentsProblem(translator: RemoteTranslator, data: CapData, what: 'methargs' | 'resolution'): string | undefined {
  try {
    if (what === 'methargs') checkMethargs(data, wireSlotKind);
    else checkCapData(data, wireSlotKind);
  } catch (error) {
    if (error instanceof CapDataError) return `${what}: ${error.message}`;
    throw error;
  }
  const forbidden = data.slots.find((slot) => !translator.mayName(slot));
  return forbidden === undefined ? undefined : `${what}: slot ${forbidden} names nothing this node gave the peer`;
}

/**
 * Why `ref` cannot be the result of a message from the peer, if it cannot:
 * a result is a new promise the peer allocated (and a result already in
 * use is a second line of defence against consuming a message twice).
 */
function resultProblem(translator: RemoteTranslator, ref: string): string | undefined {
  if (!ref.startsWith('p+')) return `result ${ref} is not a new promise of the peer`;
  if (translator.lookup(ref) !== undefined) return `result ${ref} is already in use`;
  return undefined;
}

/**
 * A result promise the peer allocated for a message it sent: new, decided
 * here, and the peer hears how it settles.
 */
function newResult(context: KernelContext, translator: RemoteTranslator, endpoint: RemoteId, ref: string): KPromiseRef {
  const kpid = translator.fromWire(ref, { newPromiseDecider: null }) as KPromiseRef;
  context.store.promises.subscribe(kpid, endpoint);
  return kpid;
}
