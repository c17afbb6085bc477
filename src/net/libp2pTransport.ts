import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { PrivateKey, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils';
import { webSockets } from '@libp2p/websockets';
import { multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import type { Logger } from '../util/logger.js';
import type { PeerId, Transport, TransportHandlers } from './transport.js';

/** The libp2p protocol id of ken-node's frame stream. */
export const kenProtocol = '/ken-node/frames/1.0.0';

export interface Libp2pTransportOptions {
  privateKey: PrivateKey;
  /** Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/0` and `/ip4/127.0.0.1/tcp/0/ws`. */
  listen: string[];
  /** Largest frame accepted; a bigger one closes the connection. */
  maxFrameBytes: number;
  logger: Logger;
}

interface Outbound {
  stream: Stream;
  frames: LengthPrefixedStream<Stream>;
}

/**
 * The {@link Transport} over libp2p: TCP and WebSockets, Noise, Yamux, and
 * length-prefixed frames. One outbound stream per peer carries every frame
 * this node sends it; writes to a peer are serialized so frames keep their
 * order, and frames that are ready together go out in one `writeV`.
 */
export class Libp2pTransport implements Transport {
  readonly #node: Libp2p;
  readonly #options: Libp2pTransportOptions;
  readonly #outbound = new Map<PeerId, Promise<Outbound>>();
  readonly #writeChains = new Map<PeerId, Promise<void>>();
  #handlers: TransportHandlers | undefined;

  private constructor(node: Libp2p, options: Libp2pTransportOptions) {
    this.#node = node;
    this.#options = options;
  }

  static async start(options: Libp2pTransportOptions): Promise<Libp2pTransport> {
    const node = await createLibp2p({
      privateKey: options.privateKey,
      addresses: { listen: options.listen },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
    });
    const transport = new Libp2pTransport(node, options);
    await node.handle(kenProtocol, (stream, connection) => {
      void transport.#readLoop(stream, connection.remotePeer.toString());
    });
    node.addEventListener('peer:disconnect', (event) => {
      const peerId = event.detail.toString();
      transport.#outbound.delete(peerId);
      transport.#handlers?.disconnected(peerId);
    });
    return transport;
  }

  get peerId(): PeerId {
    return this.#node.peerId.toString();
  }

  addresses(): string[] {
    return this.#node.getMultiaddrs().map(String);
  }

  setHandlers(handlers: TransportHandlers): void {
    this.#handlers = handlers;
  }

  async addPeerAddresses(peerId: PeerId, addresses: string[]): Promise<void> {
    await this.#node.peerStore.merge(peerIdFromString(peerId), { multiaddrs: addresses.map((a) => multiaddr(a)) });
  }

  send(peerId: PeerId, frames: Uint8Array[]): Promise<void> {
    const previous = this.#writeChains.get(peerId) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(async () => {
      const outbound = await this.#openOutbound(peerId);
      try {
        await outbound.frames.writeV(frames);
      } catch (error) {
        this.#outbound.delete(peerId);
        outbound.stream.abort(error instanceof Error ? error : new Error(String(error)));
        throw error;
      }
    });
    this.#writeChains.set(peerId, next);
    return next;
  }

  #openOutbound(peerId: PeerId): Promise<Outbound> {
    const existing = this.#outbound.get(peerId);
    if (existing !== undefined) return existing;
    const opening = (async () => {
      const handlers = this.#requireHandlers();
      const stream = await this.#node.dialProtocol(peerIdFromString(peerId), kenProtocol);
      const frames = lpStream(stream, { maxDataLength: this.#options.maxFrameBytes });
      stream.addEventListener('close', () => {
        if (this.#outbound.get(peerId) === opening) this.#outbound.delete(peerId);
      });
      await frames.write(handlers.helloFrame(peerId));
      handlers.connected(peerId);
      return { stream, frames };
    })();
    opening.catch(() => {
      if (this.#outbound.get(peerId) === opening) this.#outbound.delete(peerId);
    });
    this.#outbound.set(peerId, opening);
    return opening;
  }

  async #readLoop(stream: Stream, peerId: PeerId): Promise<void> {
    const handlers = this.#requireHandlers();
    const frames = lpStream(stream, { maxDataLength: this.#options.maxFrameBytes });
    handlers.connected(peerId);
    for (;;) {
      let frame;
      try {
        frame = await frames.read();
      } catch (error) {
        const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        if (stream.readStatus === 'readable' && !/stream closed|EOF/i.test(reason)) {
          await this.closePeer(peerId, `unreadable frame: ${reason}`);
        }
        return;
      }
      handlers.frame(peerId, frame.subarray());
    }
  }

  async closePeer(peerId: PeerId, reason: string): Promise<void> {
    this.#options.logger.warn({ peerId, reason }, 'closing connections to peer');
    this.#outbound.delete(peerId);
    await this.#node.hangUp(peerIdFromString(peerId));
  }

  async stop(): Promise<void> {
    await this.#node.stop();
  }

  #requireHandlers(): TransportHandlers {
    if (this.#handlers === undefined) throw new Error('transport used before setHandlers');
    return this.#handlers;
  }
}
