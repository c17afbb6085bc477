import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { PeerId as Libp2pPeerId, MultiaddrConnection, PrivateKey, Stream, StreamMessageEvent } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { tcp } from '@libp2p/tcp';
import { byteStream, type ByteStream } from '@libp2p/utils';
import { webSockets } from '@libp2p/websockets';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import { createLibp2p, type Libp2p } from 'libp2p';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { PeerWarnings } from '../util/peerWarnings.js';
import { encodeFrames, FrameDecoder, FrameLengthError } from './frameCodec.js';
import type { PeerId, Transport, TransportHandlers } from './transport.js';
import {
  defaultInboundConnectionsPerAddressPerSecond,
  defaultInboundUpgradeTimeoutMs,
  defaultMaxConnectionsPerPeer,
  defaultMaxPendingInboundConnections,
  defaultMaxPendingInboundPerAddress,
  type Libp2pLimits,
} from './limits.js';

export type { Libp2pLimits } from './limits.js';

/** The libp2p protocol id of ken-node's frame stream; its major version is the frame format's (frames.ts says what each added). */
export const kenProtocol = '/ken-node/frames/6.0.0';

export interface Libp2pTransportOptions extends Libp2pLimits {
  privateKey: PrivateKey;
  /** Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/0` and `/ip4/127.0.0.1/tcp/0/ws`. */
  listen: string[];
  /** What peers are told to dial (in ocap URLs and hellos) instead of the listen addresses: a node behind a proxy or NAT; unset, the listen addresses. */
  announce?: string[];
  /** Largest frame accepted; a bigger one closes the connection. */
  maxFrameBytes: number;
  /** The only peers a connection may be with, either way; unset: any peer. */
  allowPeers?: readonly PeerId[];
  logger: Logger;
}

/** The IP address a connection comes from (a DNS or other address: none). */
function ipAddressOf(address: Multiaddr): string | undefined {
  return address.getComponents().find((component) => component.name === 'ip4' || component.name === 'ip6')?.value;
}

/**
 * Inbound connections libp2p has accepted but not yet upgraded, counted per
 * IP address, at most `max` each: libp2p bounds them only in all, so without
 * this a few addresses holding stalled sockets would take every slot. A
 * connection counts from the gater's first look at it (`denyInboundConnection`)
 * until libp2p's last look before it becomes a connection
 * (`denyInboundUpgradedConnection`) or until it closes (a refused, failed or
 * timed-out upgrade closes it), whichever is first.
 */
class PendingInbound {
  readonly #perAddress = new Map<string, number>();
  readonly #addressOf = new Map<MultiaddrConnection, string>();

  constructor(readonly max: number) {}

  /** Counts `connection` against `address`; false, and not counted, if `address` has `max` pending already. */
  admit(connection: MultiaddrConnection, address: string): boolean {
    const pending = this.from(address);
    if (pending >= this.max) return false;
    this.#perAddress.set(address, pending + 1);
    this.#addressOf.set(connection, address);
    connection.addEventListener('close', () => this.release(connection), { once: true });
    return true;
  }

  /** Stops counting `connection`; the first call counts, later ones do nothing. */
  release(connection: MultiaddrConnection): void {
    const address = this.#addressOf.get(connection);
    if (address === undefined) return;
    this.#addressOf.delete(connection);
    const left = this.from(address) - 1;
    if (left > 0) this.#perAddress.set(address, left);
    else this.#perAddress.delete(address);
  }

  from(address: string): number {
    return this.#perAddress.get(address) ?? 0;
  }
}

type InboundLimits = Required<Omit<Libp2pLimits, 'maxConnectionsPerPeer'>>;

/** The inbound limits in force, defaults filled in; throws a RangeError if one address could take every pending slot. */
function inboundLimitsOf(options: Libp2pLimits): InboundLimits {
  const limits = {
    maxPendingInboundConnections: options.maxPendingInboundConnections ?? defaultMaxPendingInboundConnections,
    maxPendingInboundPerAddress: options.maxPendingInboundPerAddress ?? defaultMaxPendingInboundPerAddress,
    inboundUpgradeTimeoutMs: options.inboundUpgradeTimeoutMs ?? defaultInboundUpgradeTimeoutMs,
    inboundConnectionsPerAddressPerSecond: options.inboundConnectionsPerAddressPerSecond ?? defaultInboundConnectionsPerAddressPerSecond,
  };
  if (limits.maxPendingInboundPerAddress >= limits.maxPendingInboundConnections) {
    throw new RangeError(
      `maxPendingInboundPerAddress (${limits.maxPendingInboundPerAddress}) must be below maxPendingInboundConnections ` +
        `(${limits.maxPendingInboundConnections}): one address could take every pending slot`,
    );
  }
  return limits;
}

interface Outbound {
  stream: Stream;
  bytes: ByteStream<Stream>;
}

/**
 * The {@link Transport} over libp2p: TCP and WebSockets, Noise, Yamux, and
 * length-prefixed frames (frameCodec.ts). One outbound stream per peer
 * carries every frame this node sends it; writes to a peer are serialized
 * so frames keep their order, and frames that are ready together go out as
 * one buffer.
 */
export class Libp2pTransport implements Transport {
  readonly #node: Libp2p;
  readonly #options: Libp2pTransportOptions;
  readonly #outbound = new Map<PeerId, Promise<Outbound>>();
  readonly #writeChains = new Map<PeerId, Promise<void>>();
  readonly #allowed: ReadonlySet<PeerId> | undefined;
  readonly #warnings: PeerWarnings;
  readonly #pending: PendingInbound;
  #handlers: TransportHandlers | undefined;

  private constructor(
    node: Libp2p,
    options: Libp2pTransportOptions,
    allowed: ReadonlySet<PeerId> | undefined,
    warnings: PeerWarnings,
    pending: PendingInbound,
  ) {
    this.#node = node;
    this.#options = options;
    this.#allowed = allowed;
    this.#warnings = warnings;
    this.#pending = pending;
  }

  static async start(options: Libp2pTransportOptions): Promise<Libp2pTransport> {
    const limits = inboundLimitsOf(options);
    const warnings = new PeerWarnings(options.logger, systemClock);
    const allowed = options.allowPeers === undefined ? undefined : new Set(options.allowPeers.map((id) => peerIdFromString(id).toString()));
    const refuse = (peerId: Libp2pPeerId, direction: 'inbound' | 'outbound'): boolean => {
      if (allowed === undefined || allowed.has(peerId.toString())) return false;
      warnings.warn(peerId.toString(), 'not-allowed', { direction }, 'refused a connection: the peer is not in allowPeers');
      return true;
    };
    // The gater needs the node it guards, made just below.
    let guarded: Libp2p | undefined;
    const maxConnectionsPerPeer = options.maxConnectionsPerPeer ?? defaultMaxConnectionsPerPeer;
    const tooMany = (peerId: Libp2pPeerId): boolean => {
      const open = guarded?.getConnections(peerId).length ?? 0;
      if (open < maxConnectionsPerPeer) return false;
      warnings.warn(peerId.toString(), 'too-many-connections', { open }, `refused a connection: the peer has ${maxConnectionsPerPeer} already`);
      return true;
    };
    const pending = new PendingInbound(limits.maxPendingInboundPerAddress);
    const tooManyPending = (connection: MultiaddrConnection): boolean => {
      const address = ipAddressOf(connection.remoteAddr);
      // Nothing to count: not from an IP address, or closed already (libp2p fails its upgrade).
      if (address === undefined || connection.status !== 'open') return false;
      if (pending.admit(connection, address)) return false;
      // No peer id yet: the address is what the warnings are kept by.
      warnings.warn(address, 'too-many-pending', { address }, `refused a connection: ${address} has ${pending.max} not yet upgraded`);
      return true;
    };
    const node = await createLibp2p({
      privateKey: options.privateKey,
      addresses: { listen: options.listen, announce: options.announce },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: {
        maxIncomingPendingConnections: limits.maxPendingInboundConnections,
        inboundUpgradeTimeout: limits.inboundUpgradeTimeoutMs,
        inboundConnectionThreshold: limits.inboundConnectionsPerAddressPerSecond,
      },
      // Judged once Noise has authenticated the peer (inbound), or before
      // dialling it: a refused peer never gets a stream, so none of its frames is read.
      // Before that, an inbound connection is judged by its address alone.
      connectionGater: {
        denyInboundConnection: tooManyPending,
        denyInboundEncryptedConnection: (peerId) => refuse(peerId, 'inbound') || tooMany(peerId),
        denyInboundUpgradedConnection: (_peerId, connection) => {
          pending.release(connection);
          return false;
        },
        denyDialPeer: (peerId) => refuse(peerId, 'outbound'),
        denyOutboundEncryptedConnection: (peerId) => refuse(peerId, 'outbound'),
      },
    });
    guarded = node;
    const transport = new Libp2pTransport(node, options, allowed, warnings, pending);
    await node.handle(
      kenProtocol,
      (stream, connection) => {
        const handlers = transport.#handlers;
        // The peer a frame is from: the id whose key the remote proved in the Noise handshake.
        const peerId = connection.remotePeer.toString();
        if (handlers === undefined) {
          // Listening starts before the sessions are set up (the vats restart
          // in between). A stream taken then and left unread would swallow
          // every frame the peer writes on it for as long as the connection
          // lives; reset, the peer's next send opens a new one.
          options.logger.debug({ peerId }, 'reset a stream from peer: the sessions are not set up yet');
          stream.abort(new Error('the node is starting: its sessions are not set up yet'));
          return;
        }
        transport.#read(stream, peerId, handlers);
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

  /** Inbound connections from IP `address` not yet upgraded (for tests of the per-address cap). */
  pendingInboundFrom(address: string): number {
    return this.#pending.from(address);
  }

  async addPeerAddresses(peerId: PeerId, addresses: string[]): Promise<void> {
    await this.#node.peerStore.merge(peerIdFromString(peerId), { multiaddrs: addresses.map((a) => multiaddr(a)) });
  }

  send(peerId: PeerId, frames: Uint8Array[]): Promise<void> {
    const previous = this.#writeChains.get(peerId) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(async () => {
      const outbound = await this.#openOutbound(peerId);
      try {
        await outbound.bytes.write(encodeFrames(frames));
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
      const stream = await this.#node.dialProtocol(peerIdFromString(peerId), kenProtocol).catch((error: unknown) => {
        // A peer of another ken-node version: nothing is sent until both speak the same frames, so say why (the sessions retry on their timer).
        if (error instanceof Error && error.name === 'UnsupportedProtocolError') {
          this.#warnings.warn(peerId, 'unsupported-protocol', { protocol: kenProtocol }, `the peer does not speak ${kenProtocol} (it may run another ken-node version): messages to it wait until both do`);
        }
        throw error;
      });
      const bytes = byteStream(stream);
      stream.addEventListener('close', () => {
        if (this.#outbound.get(peerId) === opening) this.#outbound.delete(peerId);
      });
      await bytes.write(encodeFrames([handlers.helloFrame(peerId)]));
      handlers.connected(peerId);
      return { stream, bytes };
    })();
    opening.catch(() => {
      if (this.#outbound.get(peerId) === opening) this.#outbound.delete(peerId);
    });
    this.#outbound.set(peerId, opening);
    return opening;
  }

  /**
   * Reads the frames `peerId` writes on `stream`, as its chunks arrive: each
   * frame a chunk completes goes to the handlers at once, so nothing but
   * one incomplete frame is ever held here.
   */
  #read(stream: Stream, peerId: PeerId, handlers: TransportHandlers): void {
    const decoder = new FrameDecoder(this.#options.maxFrameBytes);
    const onFrame = (frame: Uint8Array) => handlers.frame(peerId, frame);
    const onMessage = (event: StreamMessageEvent) => {
      try {
        if (event.data instanceof Uint8Array) decoder.push(event.data, onFrame);
        else for (const chunk of event.data) decoder.push(chunk, onFrame);
      } catch (error) {
        if (!(error instanceof FrameLengthError)) throw error;
        stream.removeEventListener('message', onMessage);
        const reason = `${error.name}: ${error.message}`;
        this.#warnings.warn(peerId, 'unreadable-frame', { reason }, 'unreadable frame from peer: closing its connections');
        void this.closePeer(peerId, `unreadable frame: ${reason}`);
      }
    };
    handlers.connected(peerId);
    stream.addEventListener('message', onMessage);
  }

  async closePeer(peerId: PeerId, reason: string): Promise<void> {
    // The caller says why, once per session, where it knows more (a bad frame, a fault).
    this.#options.logger.debug({ peerId, reason }, 'closing connections to peer');
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
