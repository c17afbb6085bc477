import { Kernel, type KernelObserver } from '../kernel/kernel.js';
import type { CommitLimits } from '../kernel/commitPolicy.js';
import { decode, krefOf } from '../kernel/kmarshal.js';
import { assert } from '../util/assert.js';
import { Libp2pTransport, type Libp2pLimits } from '../net/libp2pTransport.js';
import type { MemoryNetwork } from '../net/memoryTransport.js';
import type { Transport } from '../net/transport.js';
import { parseOcapUrl } from '../remote/ocapUrl.js';
import { issueOcapUrl, makeOcapUrlService, redeemOcapUrl, revokeOcapUrl } from '../remote/ocapUrlService.js';
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
import { TimerService } from '../kernel/timerService.js';
import { makeVatAdminService } from '../kernel/vatAdminService.js';
import type { VatBundle } from '../vats/bundles.js';
import { CrankWatchdog } from '../vats/crankWatchdog.js';
import type { DeliveryGuard } from '../vats/deliveryGuard.js';
import { DeliveryMarker } from '../store/deliveryMarker.js';
import type { WalDisk } from '../store/walSync.js';

import { defaultMaxFrameBytes } from '../net/limits.js';

export { defaultMaxFrameBytes };

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
  /** Test-only: how the WAL is flushed in `fsync` mode (a slow fake disk, src/store/walSync.ts). */
  disk?: WalDisk;
  /** Hears of every SQL statement the store runs (`peer-workload --count-statements`: the benchmarks count them). */
  onStatement?: (sql: string) => void;
  /** Hears of the kernel's events (metrics). */
  observer?: KernelObserver;
  /** A delivery that keeps the thread past this many milliseconds is abandoned and its vat failed (the crank watchdog); unset or 0, none is. */
  crankDeadlineMs?: number;
  /** Where the delivery in progress is marked, so that one the process keeps dying in is quarantined; unset, none is counted. */
  deliveryMarkFile?: string;
  /** The bundles the vat-admin service makes and upgrades vats from, by name (the config's `bundles`); unset, none. */
  bundles?: ReadonlyMap<string, VatBundle>;
}

/** The kernel services a node offers its vats (each a presence to put in a vat's parameters): docs/writing-vats.md. */
export interface NodeServices {
  /** Ocap URLs: `issue(object, { expiresInMs }?)`, `redeem(url)`, `revoke(url)`. */
  ocapUrls: object;
  /** Vats at run time: `createVat`, `upgradeVat`, `terminateVat`, `vats`, `bundles` (kernel/vatAdminService.ts). */
  vatAdmin: object;
  /** Durable timers on the node's clock: `now`, `delay`, `wakeAt`, `repeat`, `cancel` (kernel/timerService.ts). */
  timer: object;
}

/** The names of {@link NodeServices}, as the config's `services` lists them. */
export const nodeServiceNames = ['ocapUrls', 'vatAdmin', 'timer'] as const satisfies readonly (keyof NodeServices)[];

/**
 * A ken-node: store, kernel, remote sessions and transport, assembled. The
 * host talks to it through the kernel (vats, calls) and through ocap URLs.
 */
export class KenNode {
  /** The kernel services, to give vats in their parameters. */
  readonly services: NodeServices;
  readonly #timers: TimerService;

  private constructor(
    readonly store: KernelStore,
    readonly kernel: Kernel,
    readonly transport: Transport,
    readonly sessions: PeerSessions,
    private readonly entropy: Entropy,
    private readonly clock: Clock,
    private readonly guard: DeliveryGuard | undefined,
    private readonly marks: DeliveryMarker | undefined,
    options: NodeOptions,
  ) {
    this.#timers = new TimerService(kernel, clock, options.logger, options.crashPoints);
    this.services = {
      ocapUrls: kernel.registerService('ocapUrls', makeOcapUrlService(transport, entropy)),
      vatAdmin: kernel.registerService('vatAdmin', makeVatAdminService(options.bundles ?? new Map())),
      timer: kernel.registerService('timer', this.#timers.service),
    };
    // Wake-ups due while the node was down fire now (in a crank of the loop).
    this.#timers.start(store.timers.earliestDueMs());
  }

  static async start(options: NodeOptions): Promise<KenNode> {
    const store = sabotagedStore(openStore({ path: options.storePath, durability: options.durability, disk: options.disk, onStatement: options.onStatement }), options.sabotage);
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
        clock,
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
      return new KenNode(store, kernel, transport, sessions, entropy, clock, guard, marks, options);
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

  /**
   * Issues an ocap URL for `target` (a kernel presence); it names the object
   * until it is revoked or, if `expiresInMs` is given, that long from now.
   */
  issueUrl(target: object, options: { expiresInMs?: number } = {}): Promise<string> {
    const kref = krefOf(target);
    if (kref === undefined) return Promise.reject(new TypeError('issueUrl needs a kernel presence'));
    return this.kernel.runInCrank((context, done) => {
      const url = issueOcapUrl(context, kref, this.transport, this.entropy, options.expiresInMs);
      context.buffer.postCommit.push(() => done(url));
    });
  }

  /** Revokes an ocap URL this node issued: its redemptions are refused from the commit on; false if it was revoked or expired already. */
  revokeUrl(url: string): Promise<boolean> {
    const parsed = parseOcapUrl(url);
    return this.kernel.runInCrank((context, done) => {
      const revoked = revokeOcapUrl(context, parsed, this.transport, 'it was revoked by the operator');
      context.buffer.postCommit.push(() => done(revoked));
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

  /**
   * Sends `method(...args)` to the object an ocap URL names and settles with
   * its result (committed). The URL is redeemed the first time and what it
   * gave is remembered in the store (pinned), so later sends go straight to
   * it. The redeem and the remembering are two commits: after a crash
   * between them the next send redeems again, which is harmless (a redeem
   * changes nothing at the issuer but a c-list entry).
   */
  async sendToUrl(url: string, method: string, args: unknown[]): Promise<unknown> {
    const parsed = parseOcapUrl(url);
    const key = `${parsed.swiss}@${parsed.peerId}`;
    let kref = this.store.redeemedUrls.lookup(key);
    if (kref === undefined) {
      const redeemed = krefOf(await this.redeemUrl(url));
      assert(redeemed !== undefined, 'a redeem settles with a kernel presence');
      kref = redeemed;
      await this.kernel.runInCrank<void>((context, done) => {
        // Two sends of a new URL at once redeem it twice; the first remembered wins.
        if (context.store.redeemedUrls.lookup(key) === undefined) {
          context.store.redeemedUrls.remember(key, redeemed);
          context.refs.incref(redeemed);
        }
        context.buffer.postCommit.push(() => done());
      });
    }
    return this.kernel.call(kref, method, args);
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
    this.#timers.stop();
    await this.kernel.halt();
    let timer: TimerHandle | undefined;
    const timeUp = new Promise<void>((resolve) => (timer = this.clock.setTimeout(resolve, flushMs)));
    await Promise.race([this.sessions.sendsSettled(), timeUp]);
    this.clock.clearTimeout(timer);
    await this.#close();
  }

  async #close(): Promise<void> {
    this.#timers.stop();
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
