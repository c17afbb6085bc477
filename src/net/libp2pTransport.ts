import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { PeerId as Libp2pPeerId, PrivateKey, Stream } from '@libp2p/interface';
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
  /** The only peers a connection may be with, either way; unset: any peer. */
  allowPeers?: readonly PeerId[];
  /** Connections one peer may hold at once ({@link defaultMaxConnectionsPerPeer} unless set). */
  maxConnectionsPerPeer?: number;
  logger: Logger;
}

/**
 * Connections one peer may hold with this node at once, either way, unless
 * configured: each side's dial, and one being replaced. More are refused
 * once Noise has named the peer (libp2p itself limits connections in all,
 * and how fast one address may open them).
 */
export const defaultMaxConnectionsPerPeer = 4;

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
  readonly #allowed: ReadonlySet<PeerId> | undefined;
  #handlers: TransportHandlers | undefined;

  private constructor(node: Libp2p, options: Libp2pTransportOptions, allowed: ReadonlySet<PeerId> | undefined) {
    this.#node = node;
    this.#options = options;
    this.#allowed = allowed;
  }

  static async start(options: Libp2pTransportOptions): Promise<Libp2pTransport> {
    const allowed = options.allowPeers === undefined ? undefined : new Set(options.allowPeers.map((id) => peerIdFromString(id).toString()));
    const refuse = (peerId: Libp2pPeerId, direction: 'inbound' | 'outbound'): boolean => {
      if (allowed === undefined || allowed.has(peerId.toString())) return false;
      options.logger.warn({ peerId: peerId.toString(), direction }, 'refused a connection: the peer is not in allowPeers');
      return true;
    };
    // The gater needs the node it guards, made just below.
    let guarded: Libp2p | undefined;
    const maxConnectionsPerPeer = options.maxConnectionsPerPeer ?? defaultMaxConnectionsPerPeer;
    const tooMany = (peerId: Libp2pPeerId): boolean => {
      const open = guarded?.getConnections(peerId).length ?? 0;
      if (open < maxConnectionsPerPeer) return false;
      options.logger.warn({ peerId: peerId.toString(), open }, `refused a connection: the peer has ${maxConnectionsPerPeer} already`);
      return true;
    };
    const node = await createLibp2p({
      privateKey: options.privateKey,
      addresses: { listen: options.listen },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      // Judged once Noise has authenticated the peer (inbound), or before
      // dialling it: a refused peer never gets a stream, so none of its frames is read.
      connectionGater: {
        denyInboundEncryptedConnection: (peerId) => refuse(peerId, 'inbound') || tooMany(peerId),
        denyDialPeer: (peerId) => refuse(peerId, 'outbound'),
        denyOutboundEncryptedConnection: (peerId) => refuse(peerId, 'outbound'),
      },
    });
    guarded = node;
    const transport = new Libp2pTransport(node, options, allowed);
    await node.handle(
      kenProtocol,
      (stream, connection) => {
        // The peer a frame is from: the id whose key the remote proved in the Noise handshake.
        void transport.#readLoop(stream, connection.remotePeer.toString());
      },
      // An honest peer opens one stream per connection to send us frames: a second covers a reconnect in flight.
      { maxInboundStreams: 2 },
    );
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

  checkPeer(peerId: PeerId, addresses: readonly string[]): string | undefined {
    let canonical: string;
    try {
      canonical = peerIdFromString(peerId).toString();
    } catch {
      return `${JSON.stringify(peerId)} is not a libp2p peer id`;
    }
    // Frames are attributed to the canonical form: any other would name a second, unreachable peer.
    if (canonical !== peerId) return `peer id ${peerId} is not in its usual form (${canonical})`;
    for (const address of addresses) {
      try {
        multiaddr(address);
      } catch {
        return `${JSON.stringify(address)} is not a multiaddr`;
      }
    }
    if (this.#allowed !== undefined && !this.#allowed.has(peerId)) return `peer ${peerId} is not in allowPeers`;
    return undefined;
  }

  /** Open connections with `peerId`, either way (for status, metrics and tests of the per-peer cap). */
  connectionsWith(peerId: PeerId): number {
    return this.#node.getConnections(peerIdFromString(peerId)).length;
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
