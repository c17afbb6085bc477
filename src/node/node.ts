import { Kernel, type KernelObserver } from '../kernel/kernel.js';
import type { CommitLimits } from '../kernel/commitPolicy.js';
import { decode, krefOf } from '../kernel/kmarshal.js';
import { Libp2pTransport, type Libp2pLimits } from '../net/libp2pTransport.js';
import type { MemoryNetwork } from '../net/memoryTransport.js';
import type { Transport } from '../net/transport.js';
import { parseOcapUrl } from '../remote/ocapUrl.js';
import { issueOcapUrl, makeOcapUrlService, redeemOcapUrl } from '../remote/ocapUrlService.js';
import { PeerSessions } from '../remote/peerSessions.js';
import { defaultSessionOptions, type SessionOptions } from '../remote/session.js';
import { openStore, type Durability, type KernelStore } from '../store/index.js';
import type { Logger } from '../util/logger.js';
import { loadIdentity } from './identity.js';
import { refuseForeignStore } from './storeFile.js';
import type { CrashPoints } from '../fault/crashPoints.js';
import { sabotagedRouter, sabotagedStore, sabotagedTransport, type Sabotage } from '../fault/sabotage.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { systemEntropy, type Entropy } from '../util/random.js';
import { CrankWatchdog } from '../vats/crankWatchdog.js';
import type { DeliveryGuard } from '../vats/deliveryGuard.js';
import { DeliveryMarker } from '../store/deliveryMarker.js';
import type { FdatasyncFn } from '../store/walSync.js';

/** Frames larger than this close the connection (1 MiB unless configured). */
export const defaultMaxFrameBytes = 1024 * 1024;

export type TransportChoice =
  /**
   * `keyFile`: the node's key (its peer id), made there if missing.
   * `allowPeers`: the only peers a connection may be with; unset, any peer.
   * The limits are {@link Libp2pLimits}; unset, their defaults.
   */
  | ({ kind: 'libp2p'; listen: string[]; announce?: string[]; keyFile: string; maxFrameBytes?: number; allowPeers?: readonly string[] } & Libp2pLimits)
  | { kind: 'memory'; network: MemoryNetwork; peerId: string }
  /** A transport built by the caller (a simulation's faulty one); the node stops it on stop(). */
  | { kind: 'given'; transport: Transport };

export interface NodeOptions {
  storePath: string;
  durability: Durability;
  logger: Logger;
  transport: TransportChoice;
  commit?: CommitLimits;
  session?: Partial<SessionOptions>;
  /** Real time unless a simulation brings its own. */
  clock?: Clock;
  /** Deliver `bringOutYourDead` after this many deliveries to a vat (kernel default unless set). */
  reapInterval?: number;
  crashPoints?: CrashPoints;
  /** Where swiss numbers and the store's incarnation come from (a simulation seeds it to replay exactly). */
  entropy?: Entropy;
  /** Test-only (the simulation's sabotage setting): a deliberate bug. */
  sabotage?: Sabotage;
  /** Test-only: the flush of the WAL in `fsync` mode (a slow fake disk, src/store/walSync.ts). */
  fdatasync?: FdatasyncFn;
  /** Hears of the kernel's events (metrics). */
  observer?: KernelObserver;
  /** A delivery that keeps the thread past this many milliseconds is abandoned and its vat failed (the crank watchdog); unset or 0, none is. */
  crankDeadlineMs?: number;
  /** Where the delivery in progress is marked, so that one the process keeps dying in is quarantined; unset, none is counted. */
  deliveryMarkFile?: string;
}

/**
 * A ken-node: store, kernel, remote sessions and transport, assembled. The
 * host talks to it through the kernel (vats, calls) and through ocap URLs.
 */
export class KenNode {
  /** The ocap URL service (`issue`, `redeem`), to give a bootstrap vat in its parameters. */
  readonly ocapUrls: object;

  private constructor(
    readonly store: KernelStore,
    readonly kernel: Kernel,
    readonly transport: Transport,
    readonly sessions: PeerSessions,
    private readonly entropy: Entropy,
    private readonly clock: Clock,
    private readonly guard: DeliveryGuard | undefined,
    private readonly marks: DeliveryMarker | undefined,
  ) {
    this.ocapUrls = kernel.registerService('ocapUrls', makeOcapUrlService(transport, entropy));
  }

  static async start(options: NodeOptions): Promise<KenNode> {
    const store = sabotagedStore(openStore({ path: options.storePath, durability: options.durability, fdatasync: options.fdatasync }), options.sabotage);
    const entropy = options.entropy ?? systemEntropy;
    let transport: Transport | undefined;
    let guard: CrankWatchdog | undefined;
    let marks: DeliveryMarker | undefined;
    try {
      store.meta.incarnation(entropy); // made now if the store is new
      transport = sabotagedTransport(await openTransport(store, options), options.sabotage);
      refuseForeignStore(store, transport.peerId);
      // A restarted node must be able to dial the peers it learned of before.
      for (const peer of store.peers.all()) {
        if (peer.addresses.length === 0) continue;
        // A store from before URLs were checked may hold what the transport cannot use: it must not stop the start.
        const refusal = transport.checkPeer(peer.peerId, peer.addresses);
        if (refusal === undefined) await transport.addPeerAddresses(peer.peerId, peer.addresses);
        else options.logger.warn({ peerId: peer.peerId, reason: refusal }, 'not dialling a stored peer');
      }
      const clock = options.clock ?? systemClock;
      if (options.crankDeadlineMs !== undefined && options.crankDeadlineMs > 0) {
        guard = await CrankWatchdog.start({ deadlineMs: options.crankDeadlineMs, logger: options.logger });
      }
      if (options.deliveryMarkFile !== undefined) marks = new DeliveryMarker(options.deliveryMarkFile);
      const kernel = await Kernel.start({
        store,
        logger: options.logger,
        commit: options.commit,
        now: () => clock.now(),
        reapInterval: options.reapInterval,
        crashPoints: options.crashPoints,
        observer: options.observer,
        guard,
        deliveryMarks: marks,
      });
      const sessions = new PeerSessions(
        kernel,
        store,
        transport,
        options.logger,
        { ...defaultSessionOptions, ...options.session },
        { clock, entropy, crashPoints: options.crashPoints, routerSeam: sabotagedRouter(options.sabotage) },
      );
      await sessions.start();
      return new KenNode(store, kernel, transport, sessions, entropy, clock, guard, marks);
    } catch (error) {
      // Whatever was started stops: a listening transport would keep the process alive.
      await transport?.stop().catch(() => {});
      await guard?.stop();
      marks?.close();
      store.close();
      throw error;
    }
  }

  get peerId(): string {
    return this.transport.peerId;
  }

  /** Issues an ocap URL for `target` (a kernel presence); it names the object as long as this store lives. */
  issueUrl(target: object): Promise<string> {
    const kref = krefOf(target);
    if (kref === undefined) return Promise.reject(new TypeError('issueUrl needs a kernel presence'));
    return this.kernel.runInCrank((context, done) => {
      const url = issueOcapUrl(context, kref, this.transport, this.entropy);
      context.buffer.postCommit.push(() => done(url));
    });
  }

  /** Redeems an ocap URL: an exactly-once `redeem` message to its peer; settles with a presence or a clear rejection. */
  async redeemUrl(url: string): Promise<object> {
    const parsed = parseOcapUrl(url);
    const settled = await this.kernel.runInCrank<Promise<unknown>>((context, done) => {
      const kpid = context.store.promises.create(null);
      context.refs.incref(kpid); // held by the host until it settles
      redeemOcapUrl(context, parsed, kpid, this.transport);
      const now = context.store.promises.get(kpid);
      if (now !== undefined && now.state !== 'unresolved') {
        // Settled in this crank (a URL of this node, or one refused), so no
        // waiter will ever be called; the host holds what it names, as a waiter's would.
        context.refs.increfData(now.data);
        const value = decode(now.data);
        context.buffer.postCommit.push(() => done(now.state === 'rejected' ? Promise.reject(value) : Promise.resolve(value)));
        return;
      }
      // Registered after the commit, before any answer can arrive.
      context.buffer.postCommit.push(() =>
        done(
          new Promise((resolve, reject) => {
            context.waiters.set(kpid, ({ rejected, data }) => (rejected ? reject(decode(data)) : resolve(decode(data))));
          }),
        ),
      );
    });
    return (await settled) as object;
  }


  /** Finishes the current work, commits, stops the network, closes the store. */
  async stop(): Promise<void> {
    await this.kernel.run();
    await this.#close();
  }

  /**
   * Stops soon (a signal asked): the crank in progress finishes and commits,
   * the frames that commit released are written (waiting at most
   * `flushMs`), then the network stops and the store closes. Work not yet
   * started stays in the store for the next start; nothing is lost by
   * cutting the flush short, since unacked rows are sent again then.
   */
  async shutdown(flushMs: number): Promise<void> {
    await this.kernel.halt();
    let timer: TimerHandle | undefined;
    const timeUp = new Promise<void>((resolve) => (timer = this.clock.setTimeout(resolve, flushMs)));
    await Promise.race([this.sessions.sendsSettled(), timeUp]);
    this.clock.clearTimeout(timer);
    await this.#close();
  }

  async #close(): Promise<void> {
    this.sessions.stop();
    await this.transport.stop();
    this.kernel.close();
    await this.guard?.stop();
    this.marks?.close();
  }
}

async function openTransport(store: KernelStore, options: NodeOptions): Promise<Transport> {
  const choice = options.transport;
  if (choice.kind === 'memory') return choice.network.transport(choice.peerId);
  if (choice.kind === 'given') return choice.transport;
  return Libp2pTransport.start({
    privateKey: await loadIdentity(store, choice.keyFile),
    listen: choice.listen,
    announce: choice.announce,
    maxFrameBytes: choice.maxFrameBytes ?? defaultMaxFrameBytes,
    allowPeers: choice.allowPeers,
    maxConnectionsPerPeer: choice.maxConnectionsPerPeer,
    maxPendingInboundConnections: choice.maxPendingInboundConnections,
    maxPendingInboundPerAddress: choice.maxPendingInboundPerAddress,
    inboundUpgradeTimeoutMs: choice.inboundUpgradeTimeoutMs,
    inboundConnectionsPerAddressPerSecond: choice.inboundConnectionsPerAddressPerSecond,
    logger: options.logger,
  });
}
