import { z } from 'zod';
import { nameSchema, ocapUrlSchema } from '../config/schema.js';
import { TerminatedVatError } from '../kernel/errors.js';
import { KernelPanic } from '../kernel/kernel.js';
import { urlLifetimeMaxMs } from '../remote/ocapUrl.js';
import { storageErrorOf } from '../store/index.js';
import { vatRoutes } from './vatRoutes.js';
import { krefOf } from '../kernel/kmarshal.js';
import { introducePeer } from '../node/bootstrapVat.js';
import type { KenNode } from '../node/node.js';
import type { NodeMetrics } from './metrics.js';
import { nodeStatus, peerStates } from './nodeStatus.js';

/** An answer: JSON, or text with its content type. */
export type Reply = { status: number; json: unknown } | { status: number; text: string; contentType: string };

/** A route's work, given the request's parsed JSON body (undefined for GET). */
export type Route = (body: unknown) => Promise<Reply>;

/** A request the route cannot serve as asked (400), that names nothing (404), a terminated vat (409), or that is too large (413). */
export class AdminRequestError extends Error {
  override name = 'AdminRequestError';
  constructor(
    readonly status: 400 | 404 | 409 | 413,
    message: string,
  ) {
    super(message);
  }
}

export interface AdminContext {
  node: KenNode;
  metrics: NodeMetrics;
  started: Date;
  /** The vat a request names when it names none. */
  bootstrapVat: string | undefined;
  /** The configured peers' names and the peer ids their URLs name, so that an operator can name a peer as the config does. */
  peerNames: ReadonlyMap<string, string>;
}

const urlRequest = z.strictObject({ vat: nameSchema.optional(), expiresInMs: z.int().min(1).max(urlLifetimeMaxMs).optional() });
const revokeRequest = z.strictObject({ url: ocapUrlSchema });
const peerRequest = z.strictObject({ name: nameSchema, url: ocapUrlSchema });
const sendRequest = z.strictObject({
  url: ocapUrlSchema,
  method: z.string().min(1).max(256),
  args: z.array(z.json()).max(64).default([]),
});
const forgetRequest = z.strictObject({ peer: z.string().min(1).max(128) });
const callRequest = z.strictObject({
  vat: nameSchema.optional(),
  method: z.string().min(1).max(256),
  args: z.array(z.json()).max(64).default([]),
});

/** The admin API, by `METHOD /path`. Every route is behind the bearer token (the server checks it first). */
export function adminRoutes(context: AdminContext): Record<string, Route> {
  const { node } = context;
  const rootOf = (vat: string | undefined) => {
    const name = vat ?? context.bootstrapVat;
    if (name === undefined) throw new AdminRequestError(404, 'no bootstrap vat is configured: name a vat');
    if (!node.kernel.hasVat(name)) throw new AdminRequestError(404, `no vat named ${JSON.stringify(name)}`);
    try {
      return node.kernel.rootOf(name);
    } catch (error) {
      if (error instanceof TerminatedVatError) throw new AdminRequestError(409, error.message);
      throw error;
    }
  };
  return {
    'GET /status': async () => ({ status: 200, json: nodeStatus(node, context.started, context.bootstrapVat) }),
    'GET /peers': async () => ({ status: 200, json: peerStates(node) }),
    ...vatRoutes(node),
    'GET /metrics': async () => ({ status: 200, text: await context.metrics.render(), contentType: context.metrics.contentType }),
    /** Issues a new ocap URL for a vat's root object (the bootstrap vat's unless `vat` names another), for good or for `expiresInMs`. */
    'POST /url': async (body) => {
      const request = parse(urlRequest, body);
      return { status: 200, json: { url: await node.issueUrl(rootOf(request.vat), { expiresInMs: request.expiresInMs }) } };
    },
    /** Revokes a URL this node issued: redemptions are refused from then on. */
    'POST /url/revoke': async (body) => {
      const request = parse(revokeRequest, body);
      try {
        return { status: 200, json: { revoked: await node.revokeUrl(request.url) } };
      } catch (error) {
        // A URL of another node, or one this node never issued.
        if (error instanceof TypeError) throw new AdminRequestError(404, error.message);
        throw error;
      }
    },
    /**
     * Introduces a peer to the bootstrap vat, as a configured one is at start
     * (hasPeer, redeem, addPeer); answers once it is done, which waits for the
     * peer to answer the redeem (422 if something fails).
     */
    'POST /peers': async (body) => {
      const request = parse(peerRequest, body);
      const root = rootOf(undefined);
      try {
        return { status: 200, json: { name: request.name, introduced: await introducePeer(node, root, request.name, request.url) } };
      } catch (failure) {
        return { status: 422, json: { error: failure instanceof Error ? failure.message : String(failure) } };
      }
    },
    /**
     * Forgets a peer for good (by its configured name or its peer id): the
     * promises it decided are rejected, its outbox dropped, its frames
     * refused from now on. Answers with what was dropped.
     */
    'POST /peers/forget': async (body) => {
      const request = parse(forgetRequest, body);
      const peerId = context.peerNames.get(request.peer) ?? request.peer;
      const peer = node.store.peers.get(peerId);
      if (peer === undefined) throw new AdminRequestError(404, `no peer named ${JSON.stringify(request.peer)} in the config, and no peer with that id`);
      if (peer.forgotten !== null) throw new AdminRequestError(409, `peer ${peerId} is forgotten already`);
      return { status: 200, json: await node.sessions.forget(peerId) };
    },
    /** Sends `method(...args)` to the object an ocap URL names (redeemed once, then remembered); the result once committed (422 if it rejects). */
    'POST /send': async (body) => {
      const request = parse(sendRequest, body);
      try {
        return { status: 200, json: { result: toJson(await node.sendToUrl(request.url, request.method, request.args)) } };
      } catch (rejection) {
        return refusalReply(rejection);
      }
    },
    /** Calls `method(...args)` on a vat's root and answers with the result once committed (422 if it rejects). */
    'POST /call': async (body) => {
      const request = parse(callRequest, body);
      const result = node.kernel.queueToKref(rootOf(request.vat), request.method, request.args);
      // A failure here is the kernel's (a panic): a 500, not the call's answer.
      await node.kernel.run();
      try {
        return { status: 200, json: { result: toJson(await result) } };
      } catch (rejection) {
        return { status: 422, json: { error: rejection instanceof Error ? rejection.message : String(rejection) } };
      }
    },
  };
}

/**
 * The answer to a request whose work was refused (a rejected call, a vat
 * operation that was not done): 422 with the reason. A kernel that stopped
 * (a panic, a storage error) is no refusal: it is thrown on, to answer 500.
 */
export function refusalReply(refusal: unknown): Reply {
  if (storageErrorOf(refusal) !== undefined || refusal instanceof KernelPanic) throw refusal;
  return { status: 422, json: { error: refusal instanceof Error ? refusal.message : String(refusal) } };
}

export function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {});
  if (!result.success) throw new AdminRequestError(400, `bad request body: ${z.prettifyError(result.error)}`);
  return result.data;
}

/** Call results as JSON: a kernel presence becomes `{ "kref": "ko12" }`, a bigint its decimal text. */
function toJson(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, item: unknown) => {
      const kref = krefOf(item);
      if (kref !== undefined) return { kref };
      return typeof item === 'bigint' ? item.toString() : item;
    }) ?? 'null',
  );
}
