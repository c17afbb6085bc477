/**
 * The transport's limits and their defaults, in a module of their own
 * without libp2p: the config's schema names them, and the CLI's client
 * commands read the schema without loading the transport.
 */

/** Frames larger than this close the connection (1 MiB unless configured). */
export const defaultMaxFrameBytes = 1024 * 1024;

/** What one peer, or one address, may cost the transport; each unset is its default. */
export interface Libp2pLimits {
  /** Connections one peer may hold at once ({@link defaultMaxConnectionsPerPeer} unless set). */
  maxConnectionsPerPeer?: number;
  /** Inbound connections not yet upgraded, from every address together ({@link defaultMaxPendingInboundConnections} unless set). */
  maxPendingInboundConnections?: number;
  /**
   * Inbound connections not yet upgraded from one IP address
   * ({@link defaultMaxPendingInboundPerAddress} unless set); fewer than
   * `maxPendingInboundConnections`, or one address could take every slot.
   */
  maxPendingInboundPerAddress?: number;
  /** How long an inbound connection may take to be upgraded, Noise handshake included ({@link defaultInboundUpgradeTimeoutMs} unless set). */
  inboundUpgradeTimeoutMs?: number;
  /** New inbound connections one IP address may open per second ({@link defaultInboundConnectionsPerAddressPerSecond} unless set). */
  inboundConnectionsPerAddressPerSecond?: number;
}

/**
 * Connections one peer may hold with this node at once, either way, unless
 * configured: each side's dial, and one being replaced. More are refused
 * once Noise has named the peer (libp2p itself limits connections in all,
 * and how fast one address may open them).
 */
export const defaultMaxConnectionsPerPeer = 4;

/**
 * Inbound connections libp2p upgrades at once (accepted, Noise and Yamux
 * not yet done), from everyone, unless configured. libp2p's
 * own default is 10, so ten sockets that never send a byte locked every new
 * peer out until they timed out. An honest upgrade takes a few round trips,
 * so honest peers hold these slots only briefly: the slots are for stalled
 * sockets to be absorbed by. 256 makes an attacker need 64 addresses (at
 * {@link defaultMaxPendingInboundPerAddress} each) to fill them, and keeps
 * these sockets and libp2p's 300 connections under a 1,024 file limit. What
 * a pending connection costs is a socket and a few KiB of buffers.
 */
export const defaultMaxPendingInboundConnections = 256;

/**
 * Inbound connections not yet upgraded from one IP address, unless
 * configured (libp2p has no such limit). A host has a handshake in flight
 * per connection it is opening: 4 lets one peer open its whole
 * {@link defaultMaxConnectionsPerPeer} at once, or a few nodes behind one
 * NAT connect together, while a host of stalled sockets holds 4 slots of
 * {@link defaultMaxPendingInboundConnections}, not all of them.
 */
export const defaultMaxPendingInboundPerAddress = 4;

/**
 * How long an inbound connection may take to be upgraded (multistream-select,
 * the Noise handshake, Yamux), unless configured; then it is closed and its
 * slot freed. libp2p's default is 10 s. An honest upgrade is four or five
 * round trips: under 2 s at a 300 ms round trip, so 5 s leaves room for a
 * slow link or a busy node while halving how long each stalled socket holds
 * a slot. Noise has no timeout of its own: its handshake runs under this one.
 */
export const defaultInboundUpgradeTimeoutMs = 5_000;

/**
 * New inbound connections one IP address may open per second, unless
 * configured: libp2p's default, kept. An honest peer reconnects about once
 * a second at most; an attacker re-opening stalled sockets from one address
 * is slowed to this rate before it reaches {@link defaultMaxPendingInboundPerAddress}.
 */
export const defaultInboundConnectionsPerAddressPerSecond = 5;
