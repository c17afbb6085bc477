/**
 * The pipe under the remote layer: best-effort, authenticated, ordered per
 * connection. It may lose whatever was in flight when a connection breaks;
 * the sequence numbers, acks and resends above it make that harmless.
 *
 * Each node writes only on streams it opened and reads only on streams it
 * accepted, so a pair of peers has one pipe each way. The first frame on
 * every stream a node opens is the one `helloFrame` gives for that peer.
 */

/** A peer's libp2p peer id, as a string (`12D3Koo…`). */
export type PeerId = string;

export interface TransportHandlers {
  /** A frame arrived; `peerId` is the authenticated connection's, never a field of the frame. */
  frame(peerId: PeerId, frame: Uint8Array): void;
  /** The first frame to write on every new stream to `peerId`. */
  helloFrame(peerId: PeerId): Uint8Array;
  /** A stream to or from `peerId` opened: the peer is reachable (again). */
  connected(peerId: PeerId): void;
  /** Every connection to `peerId` closed. */
  disconnected(peerId: PeerId): void;
}

export interface Transport {
  /** This node's own peer id. */
  readonly peerId: PeerId;
  /** Addresses others can dial, each ending in `/p2p/<peerId>`. */
  addresses(): string[];
  setHandlers(handlers: TransportHandlers): void;
  /**
   * Why this transport would not connect to `peerId` at `addresses` (a
   * malformed peer id or address, or a peer its allowlist leaves out), or
   * undefined if it would. Asked before a peer is stored: what the
   * transport cannot use must not be kept and fail every later start.
   */
  checkPeer(peerId: PeerId, addresses: readonly string[]): string | undefined;
  /** Remembers where `peerId` can be dialled. */
  addPeerAddresses(peerId: PeerId, addresses: string[]): Promise<void>;
  /**
   * Writes `frames` to `peerId` in one write, in order, opening a stream if
   * needed (its hello first). Resolves once handed to the connection, which
   * is no promise of delivery; rejects if the peer cannot be reached.
   */
  send(peerId: PeerId, frames: Uint8Array[]): Promise<void>;
  /** Closes every connection to `peerId` (bad input); it may reconnect later. */
  closePeer(peerId: PeerId, reason: string): Promise<void>;
  stop(): Promise<void>;
}
