import { storageErrorOf, StorageError, type KernelStore } from '../store/index.js';
import type { VatRecord, VatState } from '../store/vats.js';
import { kernelOwner, type CapData, type GcAction, type KObjectRef, type KRef, type RunQueueItem, type VatId } from '../store/types.js';
import type { KernelService } from './services.js';
import { assert, AssertionError } from '../util/assert.js';
import type { CrashPoints } from '../fault/crashPoints.js';
import type { VatBundle } from '../vats/bundles.js';
import type { VatDelivery, VatSyscall } from '../vats/types.js';
import { makeVatInstance, type VatInstance, type VatRuntime } from '../vats/vatInstance.js';
import { unguarded, type DeliveryGuard } from '../vats/deliveryGuard.js';
import type { DeliveryMarks } from '../store/deliveryMarker.js';
import type { WalSync } from '../store/walSync.js';
import { DeliveryCrashes, deliveryKey, poisonDeliveryLimit } from './deliveryCrashes.js';
import { CommitPolicy, defaultGroupCommit, type CommitLimits } from './commitPolicy.js';
import type { KernelContext, RemoteRouter } from './context.js';
import type { Logger } from '../util/logger.js';
import { systemClock, type Clock } from '../util/clock.js';
import { CrankBuffer, type PostCommitAction, type Settlement } from './crankBuffer.js';
import { notifyPeerNow, notifyRunOf, routeGcAction, routeRunItems, sendToPeerNow, type Routing } from './deliveries.js';
import { TerminatedVatError, UnknownVatError, VatCreationError } from './errors.js';
import { decode, encode, krefOf, presenceOf } from './kmarshal.js';
import { makeRefcounts } from './refcounts.js';
import { rejectPromise } from './resolve.js';
import { makeSyscallHandler, type SyscallHandler, type SyscallRecord } from './syscallHandler.js';
import { failVat, forgetHeap, recordNewVat, rootOf, terminateVat } from './vatLifecycle.js';
import { finishVatOp, queueVatOp, type VatOpRequest } from './vatOps.js';
import type { VatOp } from '../store/vatOps.js';
import { makeVatTranslator } from './vatTranslator.js';

/** What a COMMIT hook releases once the COMMIT is on disk: before and after the committed cranks' own post-commit actions. */
export interface CommitRelease {
  beforeActions?: () => void;
  afterActions?: () => void;
}

export interface KernelOptions {
  store: KernelStore;
  logger: Logger;
  commit?: CommitLimits;
  /** Deliver `bringOutYourDead` to a vat after this many deliveries to it (default 1000). */
  reapInterval?: number;
  /** At most one forced full GC per this many milliseconds, across vats (default 5000; 0 forces one every reap). */
  forcedGcIntervalMs?: number;
  /** The node's clock: the commit policy's milliseconds, and the calendar time of durable deadlines; a simulation brings a virtual one. */
  clock?: Clock;
  observer?: KernelObserver;
  /** Armed by fault tests to die at a named point; unarmed otherwise. */
  crashPoints?: CrashPoints;
  /** What every delivery runs through: the crank deadline (a node's watchdog); unset, deliveries run unwatched. */
  guard?: DeliveryGuard;
  /** Where each delivery is marked while it runs, so that one a process died in is counted at the next start (and quarantined when it keeps killing it); unset, nothing is counted. */
  deliveryMarks?: DeliveryMarks;
}

/** Events for metrics and tests; called synchronously, between store operations. */
export interface KernelObserver {
  /** A crank was rolled back because its vat failed; the store is as it was before the crank. */
  crankAborted?(event: { vatId: VatId; reason: string }): void;
  /** A COMMIT that wrote something returned after `ns` nanoseconds (a latency histogram observes it). */
  committed?(ns: bigint): void;
  /**
   * The kernel stopped: on a broken invariant (a {@link KernelPanic}) or a
   * failed storage (a {@link StorageError}). Every later call fails; the
   * process must restart from the store, which holds the last commit.
   */
  stopped?(error: KernelPanic | StorageError): void;
}

/** Counters since the kernel started; the benchmarks and metrics read them. */
export interface KernelStats {
  cranks: number;
  deliveries: number;
  abortedCranks: number;
  commits: number;
  /** Time spent inside vat deliveries (liveslots, vat code, and the syscalls they make), nanoseconds. */
  vatNs: bigint;
  /** The part of {@link KernelStats.vatNs} spent answering syscalls, nanoseconds. */
  syscallNs: bigint;
  /** Time spent in whole cranks, vat time included, nanoseconds. */
  crankNs: bigint;
  /** Time spent in COMMIT, nanoseconds. */
  commitNs: bigint;
}

/**
 * Work from outside the run queue (a frame from a peer, a host request that
 * writes): it runs in a crank of its own, between vat deliveries.
 */
export interface ExternalWork {
  /**
   * Runs inside the crank; throwing rolls the crank back and calls
   * `failed`, unless what it threw is a storage error or a failed
   * assertion: those are nobody's input and stop the kernel as what they are.
   */
  apply(context: KernelContext): void;
  failed?(error: Error): void;
}

/** Something the kernel works on next, and how to undo-and-consume it if its vat fails. */
type WorkItem =
  /** One item, or a run of notifies to one vat (delivered at once: `notifyRunOf`). */
  | { type: 'run'; items: RunQueueItem[] }
  | { type: 'gc'; action: GcAction }
  | { type: 'reap'; vatId: VatId }
  | { type: 'external'; work: ExternalWork }
  /** A vat operation (create, upgrade, terminate), carried out in a crank of its own (vatOps.ts). */
  | { type: 'vatOp'; op: VatOp };

/** Work that is a delivery to a vat (or consumed on its way to one). */
type DeliveryWork = Exclude<WorkItem, { type: 'external' } | { type: 'vatOp' }>;

/** Raised when the kernel's own invariants break: the process must restart from the store. */
export class KernelPanic extends Error {
  override name = 'KernelPanic';
}

/**
 * The node-local kernel: one run loop, one crank at a time, each crank a
 * savepoint inside a group-committed SQLite transaction. Its host (the node,
 * a test, the CLI) creates vats, queues messages into them, and calls
 * {@link Kernel.run}. Results reach the host only after the COMMIT that
 * holds them.
 */
export class Kernel {
  readonly stats: KernelStats = {
    cranks: 0,
    deliveries: 0,
    abortedCranks: 0,
    commits: 0,
    vatNs: 0n,
    syscallNs: 0n,
    crankNs: 0n,
    commitNs: 0n,
  };

  readonly #store: KernelStore;
  readonly #logger: Logger;
  readonly #context: KernelContext;
  readonly #policy: CommitPolicy;
  readonly #reapInterval: number;
  readonly #forcedGcIntervalMs: number;
  readonly #observer: KernelObserver;
  readonly #crashPoints: CrashPoints | undefined;
  readonly #guard: DeliveryGuard;
  readonly #marks: DeliveryMarks | undefined;
  readonly #crashes: DeliveryCrashes;
  readonly #walSync: WalSync | undefined;
  readonly #vats = new Map<VatId, VatInstance>();
  readonly #reapDue = new Set<VatId>();
  /** Deliveries since each vat's last reap, in memory: a restart gives a vat a fresh heap, so counting starts over with it. */
  readonly #deliveriesSinceReap = new Map<VatId, number>();
  readonly #afterCommit: PostCommitAction[] = [];
  readonly #commitHooks: (() => CommitRelease)[] = [];
  readonly #pendingInputs: (() => void)[] = [];
  readonly #external: ExternalWork[] = [];
  #rerun = false;
  /** Each vat's syscall handler, made at its first delivery (syscallHandler.ts); it holds nothing of the vat's instance, so a restart or upgrade keeps it, and a vat that fails or is terminated drops it. */
  readonly #syscallHandlers = new Map<VatId, SyscallHandler>();
  #syscall: VatSyscall | undefined;
  /** The vat `#syscall` serves: a syscall from any other (an abandoned delivery's leftovers) is refused. */
  #syscallVat: VatId | undefined;
  #running: Promise<number> | undefined;
  #followUp: Promise<number> | undefined;
  #panic: KernelPanic | StorageError | undefined;
  #halted = false;
  /** An error that came outside the loop, for the loop to stop on (`#stopFromOutsideTheLoop`). */
  #stopping: unknown;

  private constructor(options: KernelOptions) {
    this.#store = options.store;
    this.#logger = options.logger;
    this.#reapInterval = options.reapInterval ?? 1000;
    this.#forcedGcIntervalMs = options.forcedGcIntervalMs ?? 5000;
    this.#observer = options.observer ?? {};
    this.#crashPoints = options.crashPoints;
    this.#guard = options.guard ?? unguarded;
    this.#marks = options.deliveryMarks;
    this.#crashes = new DeliveryCrashes(this.#store);
    this.#walSync = this.#store.walSync;
    if (this.#walSync !== undefined) this.#walSync.onFailure = (error) => this.#stopFromOutsideTheLoop(error);
    assert(Number.isSafeInteger(this.#reapInterval) && this.#reapInterval >= 1, 'reapInterval must be an integer >= 1');
    const clock = options.clock ?? systemClock;
    this.#policy = new CommitPolicy(options.commit ?? defaultGroupCommit, () => clock.now());
    this.#context = {
      store: this.#store,
      buffer: new CrankBuffer(),
      refs: makeRefcounts(this.#store),
      logger: this.#logger,
      waiters: new Map(),
      remotes: undefined,
      services: new Map(),
      clock,
    };
  }

  /**
   * Opens the kernel on a store and restarts every live vat from its durable
   * state (the vatstore and its bundle), as after a crash.
   */
  static async start(options: KernelOptions): Promise<Kernel> {
    const kernel = new Kernel(options);
    kernel.#countUnfinishedDelivery();
    await kernel.#restartVats();
    await kernel.#carryOutQueuedVatOps();
    return kernel;
  }

  /** Connects the remote layer: sends and notifications for remote endpoints go to `router`. */
  setRemoteRouter(router: RemoteRouter): void {
    this.#context.remotes = router;
  }

  /**
   * Registers a kernel service under `name` and returns its presence (the
   * same kref across restarts, so vats that hold it keep working).
   */
  registerService(name: string, service: KernelService): object {
    this.#assertIdle('registerService');
    const { store, refs } = this.#context;
    const key = `service.${name}`;
    let kref = store.meta.get(key) as KObjectRef | undefined;
    if (kref === undefined) {
      this.#beginCrank();
      kref = store.objects.create(kernelOwner);
      refs.incref(kref);
      store.meta.set(key, kref);
      this.#endCrank();
      this.#commit();
    }
    this.#context.services.set(kref, service);
    return presenceOf(kref);
  }

  /** Queues work to run in a crank of its own; call {@link Kernel.run} to have it run. */
  queueExternal(work: ExternalWork): void {
    this.#external.push(work);
  }

  /**
   * At every COMMIT, `read` runs at once: it reads what is now committed.
   * What it returns runs once that COMMIT is on disk (at once, but for
   * `fsync` durability: walSync.ts), around the committed cranks' own
   * post-commit actions: where the network layer learns what it may send,
   * and sends it.
   */
  onCommit(read: () => CommitRelease): void {
    this.#commitHooks.push(read);
  }

  /**
   * Creates a vat from a bundle and starts it on its runtime (liveslots
   * unless said); resolves with its id and root object once the crank that
   * started it is committed. Refused (a {@link VatCreationError}) if the
   * name is taken, or if the vat fails to start: then nothing of it stays.
   */
  async createVat(spec: { name: string; bundle: VatBundle; parameters?: unknown; runtime?: VatRuntime }): Promise<{ vatId: VatId; root: KObjectRef }> {
    if (this.#store.vats.getByName(spec.name) !== undefined) {
      throw new VatCreationError(`a vat named ${JSON.stringify(spec.name)} already exists`);
    }
    const request: VatOpRequest = { kind: 'create', vatName: spec.name, bundleHash: spec.bundle.hash, runtime: spec.runtime ?? 'liveslots', parameters: encode(spec.parameters ?? {}) };
    try {
      const { vatId, root } = (await this.#requestVatOp(request, spec.bundle)) as { vatId: VatId; root: object };
      return { vatId, root: krefOf(root) as KObjectRef };
    } catch (error) {
      throw error instanceof Error && !(error instanceof KernelPanic) && storageErrorOf(error) === undefined ? new VatCreationError(error.message) : error;
    }
  }

  /**
   * Restarts the vat called `name` on `bundle`, keeping its durable state,
   * in one crank: the new version must define again every durable kind the
   * vat made. If it fails to start, the crank is rolled back and the
   * previous version runs on, its state untouched, and the promise rejects
   * saying why. A failed vat is upgraded the same way (and is live again).
   */
  upgradeVat(name: string, bundle: VatBundle): Promise<{ vatId: VatId }> {
    return this.#requestVatOp({ kind: 'upgrade', vatName: name, bundleHash: bundle.hash }, bundle) as Promise<{ vatId: VatId }>;
  }

  /**
   * Ends the vat called `name` for good: its state (vatstore, c-list,
   * durable objects) is deleted, what it decided is rejected, messages to it
   * are rejected from then on with `reason`.
   */
  terminateVat(name: string, reason: string): Promise<{ vatId: VatId }> {
    return this.#requestVatOp({ kind: 'terminate', vatName: name, reason }) as Promise<{ vatId: VatId }>;
  }

  /** Queues a vat operation in a crank of its own and runs the loop; settles once the crank that carried it out is committed. */
  #requestVatOp(request: VatOpRequest, bundle?: VatBundle): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queueExternal({
        apply: (context) => {
          const result = context.store.promises.create(null);
          queueVatOp(context, request, result, bundle);
          context.waiters.set(result, ({ rejected, data }) => (rejected ? reject(decode(data)) : resolve(decode(data))));
        },
        failed: reject,
      });
      this.run().catch(reject);
    });
  }

  /** True if a vat called `name` was ever created (live or terminated). */
  hasVat(name: string): boolean {
    return this.#store.vats.getByName(name) !== undefined;
  }

  /**
   * The root object of the vat called `name`, as a kernel presence. A failed
   * vat's root is there (messages to it are rejected with the reason until a
   * start restarts it); a terminated vat has none.
   */
  rootOf(name: string): object {
    const record = this.#store.vats.getByName(name);
    if (record === undefined) throw new UnknownVatError(`no vat named ${JSON.stringify(name)}`);
    if (record.state === 'terminated') throw new TerminatedVatError(`vat ${JSON.stringify(name)} was terminated: ${record.reason}`);
    return presenceOf(rootOf(this.#context, record.vatId));
  }

  /**
   * Runs `apply` in a crank of its own, and the run loop; settles with what
   * `apply` passes to `done` (from a post-commit action, if it must wait for
   * the commit), or rejects with what `apply` threw (the crank rolled back).
   */
  runInCrank<T>(apply: (context: KernelContext, done: (value: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queueExternal({ apply: (context) => apply(context, resolve), failed: reject });
      this.run().catch(reject);
    });
  }

  /** The state of the vat called `name` (live, failed, terminated) and why, if it is not live; undefined if there is none. */
  vatState(name: string): { state: VatState; reason: string | undefined; runtime: VatRuntime } | undefined {
    const record = this.#store.vats.getByName(name);
    return record && { state: record.state, reason: record.state === 'live' ? undefined : record.reason, runtime: record.runtime };
  }

  /**
   * Queues `target~.method(...args)` from the host. `target` is a kref or a
   * kernel presence; args are plain data and kernel presences. The returned
   * promise settles after the COMMIT that made the result durable; the host
   * must call {@link Kernel.run} for anything to happen.
   */
  queueToKref(target: KRef | object, method: string, args: unknown[] = []): Promise<unknown> {
    const kref = typeof target === 'string' ? target : krefOf(target);
    if (kref === undefined) throw new TypeError('target must be a kref or a kernel presence');
    const methargs = encode([method, args]);
    return new Promise((resolve, reject) => {
      this.#pendingInputs.push(() => {
        const { store, refs, waiters } = this.#context;
        const result = store.promises.create(null);
        const message = { methargs, result };
        store.queues.enqueueSend(kref, message);
        refs.increfMessage(message, kref);
        waiters.set(result, (settlement: Settlement) => {
          const value = decode(settlement.data);
          if (settlement.rejected) reject(value);
          else resolve(value);
        });
      });
    });
  }

  /** Queues a call and runs the kernel until it is idle; the result, once committed. */
  async call(target: KRef | object, method: string, args: unknown[] = []): Promise<unknown> {
    const result = this.queueToKref(target, method, args);
    await this.run();
    return result;
  }

  /**
   * Runs cranks until there is no work (or `maxCranks` ran), committing per
   * the commit policy and at the end. Concurrent calls share one loop.
   */
  run(options: { maxCranks?: number } = {}): Promise<number> {
    if (this.#halted) return Promise.resolve(0);
    if (this.#running !== undefined) {
      // The loop in progress may already have looked at its queues for the
      // last time: run again after it, so work queued before this call runs.
      // One follow-up run serves every caller that arrives meanwhile.
      this.#rerun = true;
      this.#followUp ??= this.#running.then(() => {
        this.#followUp = undefined;
        return this.run(options);
      });
      return this.#followUp;
    }
    this.#running = this.#loop(options.maxCranks ?? Number.POSITIVE_INFINITY).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /**
   * Stops the run loop after the crank in progress, which commits; later
   * calls to {@link Kernel.run} do nothing. For a shutdown that must be
   * quick: work not yet started stays in the store (or, for input that was
   * never committed, with its sender, who sends it again) for the next start.
   */
  async halt(): Promise<void> {
    this.#halted = true;
    await this.#running?.catch(() => {});
  }

  /** True while the run loop works (a simulation waits for it to stop before it moves time on). */
  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** Number of items waiting in the run queue (committed or not). */
  get runQueueLength(): number {
    return this.#store.queues.runLength();
  }

  async #loop(maxCranks: number): Promise<number> {
    this.#assertHealthy();
    let cranks = 0;
    try {
      do {
        this.#rerun = false;
        while (cranks < maxCranks && !this.#halted) {
          this.#applyInputs();
          const work = this.#nextWork();
          if (work === undefined) {
            if (this.#external.length === 0) break;
            // External work waits for a group of its own (#nextWork): this one ends here.
            this.#commit();
            continue;
          }
          await this.#crank(work);
          cranks += 1;
          if (this.#policy.due) this.#commit();
        }
        this.#applyInputs();
        // Nothing more to run, unless work came meanwhile: the flush may as well be made in this thread (walSync.ts).
        this.#commit(!this.#rerun);
        this.#marks?.idle();
      } while (this.#rerun && cranks < maxCranks && !this.#halted);
    } catch (error) {
      throw this.#stopOn(error);
    }
    return cranks;
  }

  /**
   * The run loop met an error that is nobody's input: the kernel stops, with
   * nothing of its open transaction committed (rolled back here, if SQLite
   * did not already) and nothing it released sent. A storage error says so;
   * anything else is a broken invariant, a panic.
   */
  #stopOn(error: unknown): KernelPanic | StorageError {
    const storage = storageErrorOf(error);
    const stop = storage ?? new KernelPanic(`kernel panic: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    this.#panic = stop;
    this.#afterCommit.length = 0;
    this.#context.buffer.clear();
    this.#context.refs.reset();
    try {
      this.#store.tx.rollback();
    } catch (rollbackError) {
      this.#logger.error({ err: rollbackError }, 'rolling back after the kernel stopped failed; the store holds the last commit');
    }
    if (storage !== undefined) {
      this.#logger.error({ err: storage.cause ?? storage, code: storage.code }, 'storage error: the kernel stopped, committing nothing of its open transaction; fix the storage and restart the node');
    } else {
      this.#logger.error({ err: error }, 'kernel panic: restart the node; the store holds the last commit');
    }
    this.#observer.stopped?.(stop);
    return stop;
  }

  /** Host inputs enter between cranks, each in its own savepoint, so no vat failure can undo them. */
  #applyInputs(): void {
    while (this.#pendingInputs.length > 0) {
      const input = this.#pendingInputs.shift();
      assert(input !== undefined, 'input queue');
      this.#beginCrank();
      input();
      this.#endCrank();
      this.#policy.crankDone();
    }
  }

  /**
   * GC actions first (they release memory), then external work, then due
   * reaps, then the run queue. External work (a peer's run of frames, most
   * often) is taken in a group of cranks that has not begun, or that is
   * young and whose run queue is empty; otherwise it waits for the group's
   * COMMIT (the run loop commits once nothing else is left). So the
   * deliveries a run of frames brings mostly share its group's COMMIT: a
   * message received in one group and delivered in the next writes its
   * run-queue row, its result promise and subscription, and its c-list
   * entries, to delete or change them at the next COMMIT. External work
   * waits at most one group.
   */
  #nextWork(): WorkItem | undefined {
    const action = this.#store.queues.peekGc();
    if (action !== undefined) return { type: 'gc', action };
    const policy = this.#policy;
    if (this.#external.length > 0 && (!policy.open || (policy.young && this.#store.queues.peekRun() === undefined))) {
      const external = this.#external.shift() as ExternalWork;
      return { type: 'external', work: external };
    }
    const op = this.#store.vatOps.peek();
    if (op !== undefined) return { type: 'vatOp', op };
    for (const vatId of this.#reapDue) {
      this.#reapDue.delete(vatId);
      if (this.#vats.has(vatId)) return { type: 'reap', vatId };
    }
    const item = this.#store.queues.peekRun();
    return item && { type: 'run', items: notifyRunOf(this.#context, item) };
  }

  #route(work: DeliveryWork): Routing {
    switch (work.type) {
      case 'gc':
        return routeGcAction(this.#context, work.action);
      case 'run':
        return routeRunItems(this.#context, work.items);
      case 'reap':
        this.#deliveriesSinceReap.delete(work.vatId);
        return { type: 'deliver', vatId: work.vatId, delivery: ['bringOutYourDead'] };
      default:
        throw new Error(`unknown work ${JSON.stringify(work satisfies never)}`);
    }
  }

  async #crank(work: WorkItem): Promise<void> {
    const started = process.hrtime.bigint();
    if (work.type === 'external') {
      this.#externalCrank(work.work);
    } else if (work.type === 'vatOp') {
      await this.#vatOpCrank(work.op);
    } else {
      await this.#deliveryCrank(work);
    }
    this.#policy.crankDone();
    this.stats.cranks += 1;
    this.stats.crankNs += process.hrtime.bigint() - started;
  }

  #externalCrank(work: ExternalWork): void {
    this.#beginCrank();
    try {
      work.apply(this.#context);
    } catch (error) {
      if (error instanceof AssertionError || storageErrorOf(error) !== undefined) throw error;
      this.#abortCrank();
      work.failed?.(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.#endCrank();
  }

  async #deliveryCrank(work: DeliveryWork): Promise<void> {
    this.#beginCrank();
    const routing = this.#route(work);
    if (routing.type !== 'deliver') {
      this.#endCrank();
      return;
    }
    const { vatId, delivery } = routing;
    const key = deliveryKey(vatId, whatIsDelivered(work));
    const deaths = this.#crashes.poison(key);
    if (deaths !== undefined) {
      this.#abortCrank();
      this.#quarantine(vatId, work, key, deaths);
      return;
    }
    const { fault, record } = await this.#deliver(vatId, delivery, key);
    if (fault !== undefined) {
      this.#abortCrank();
      this.#observer.crankAborted?.({ vatId, reason: fault });
      this.#endVatAfterAbort(vatId, work, 'failed', fault);
    } else if (record.exit?.failure === true) {
      // The vat asked to end, failing: what it did in this crank goes with it.
      const reason = `it exited with failure: ${describe(record.exit.info)}`;
      this.#abortCrank();
      this.#observer.crankAborted?.({ vatId, reason });
      this.#endVatAfterAbort(vatId, work, 'terminated', reason);
    } else {
      this.#endCrank();
      const { exit } = record;
      if (exit !== null) this.#inCrank(() => this.#terminateVat(vatId, `it exited: ${describe(exit.info)}`));
    }
  }

  /** The vat's syscall handler, made at its first delivery. */
  #syscallHandlerOf(vatId: VatId): SyscallHandler {
    let handler = this.#syscallHandlers.get(vatId);
    if (handler === undefined) {
      handler = makeSyscallHandler(this.#context, vatId, makeVatTranslator(this.#context, vatId));
      this.#syscallHandlers.set(vatId, handler);
    }
    return handler;
  }

  /**
   * Delivers to a vat, its syscall handler recording this crank. Says whether
   * the vat was at fault: an illegal syscall, or a delivery its runtime
   * could not complete. The kernel checks what it delivers (capdataCheck.ts),
   * so well-formed input cannot be the cause: the fault is the vat's.
   */
  async #deliver(vatId: VatId, delivery: VatDelivery, key: string | undefined): Promise<{ fault: string | undefined; record: SyscallRecord }> {
    const vat = this.#vats.get(vatId);
    assert(vat !== undefined, `delivery to ${vatId}, which is not running`);
    const handler = this.#syscallHandlerOf(vatId);
    const record = handler.beginCrank();
    this.#syscall = handler.syscall;
    this.#syscallVat = vatId;
    const started = process.hrtime.bigint();
    if (key !== undefined) this.#marks?.begin(key);
    let guarded;
    try {
      guarded = await this.#guard.watch(() => vat.deliver(delivery));
    } finally {
      this.stats.vatNs += process.hrtime.bigint() - started;
      this.stats.syscallNs += record.syscallNs;
      this.#syscall = undefined;
      this.#syscallVat = undefined;
    }
    // Only a delivery that settled clears its mark: if watching it threw, the kernel stops in it, and the next start counts it.
    if (key !== undefined) this.#marks?.end();
    this.stats.deliveries += 1;
    // Not the vat's fault: the run loop stops the kernel on it.
    if (record.kernelFault !== null) throw record.kernelFault;
    let fault: string | undefined;
    if ('abandoned' in guarded) fault = `delivery abandoned: ${guarded.abandoned}`;
    else if (record.illegal !== null) fault = `illegal syscall: ${record.illegal}`;
    else if (!guarded.done.ok) fault = `delivery failed: ${guarded.done.reason}`;
    else if (key !== undefined) this.#crashes.clear(key);
    if (fault === undefined && record.exit === null && delivery[0] !== 'bringOutYourDead' && delivery[0] !== 'startVat') {
      // A notify counts as the resolutions it carries: the garbage a vat makes follows them, not the deliveries.
      const weight = delivery[0] === 'notify' ? delivery[1].length : 1;
      const count = (this.#deliveriesSinceReap.get(vatId) ?? 0) + weight;
      this.#deliveriesSinceReap.set(vatId, count);
      if (count >= this.#reapInterval) this.#reapDue.add(vatId);
    }
    return { fault, record };
  }

  /**
   * A crank of `vatId` was rolled back; its heap is now ahead of the store,
   * so the vat cannot take more deliveries in this process. A new crank
   * consumes the item it was handling (rejecting that message's result, so
   * a poison message is not delivered again) and ends the vat as `end`
   * says: `failed` keeps every durable thing for the next start to restart
   * it from; `terminated` (the vat asked for it) deletes its state.
   */
  #endVatAfterAbort(vatId: VatId, work: DeliveryWork, end: 'failed' | 'terminated', reason: string): void {
    const name = this.#store.vats.get(vatId)?.name ?? vatId;
    const rejection =
      end === 'failed'
        ? `vat ${vatId} (${name}) failed while handling this message: ${reason}`
        : `vat ${vatId} (${name}) was terminated: ${reason}`;
    this.#inCrank(() => {
      if (work.type === 'run') {
        for (const item of work.items) {
          this.#store.queues.removeRun(item.id);
          this.#consumeFailedItem(item, rejection);
        }
      } else if (work.type === 'gc') {
        this.#store.queues.removeGc(work.action.id);
      }
      if (end === 'failed') this.#failVat(vatId, reason);
      else this.#terminateVat(vatId, reason);
    });
  }

  /**
   * A delivery the process died in {@link poisonDeliveryLimit} times is not
   * delivered again. A message or notification is consumed (a message's
   * result rejected with the reason) and the vat goes on; the vat's own
   * bookkeeping (a GC action, a reap) cannot be skipped that way, so the
   * vat fails instead, keeping its state.
   */
  #quarantine(vatId: VatId, work: DeliveryWork, key: string, deaths: number): void {
    const name = this.#store.vats.get(vatId)?.name ?? vatId;
    const reason = `quarantined: the process died ${deaths} times while this delivery was in progress`;
    this.#logger.error({ vatId, vat: name, delivery: key, deaths }, 'a delivery that kept killing the process is quarantined: it is not delivered again');
    this.#inCrank(() => this.#crashes.clear(key));
    if (work.type === 'run') {
      this.#inCrank(() => {
        for (const item of work.items) {
          this.#store.queues.removeRun(item.id);
          this.#consumeFailedItem(item, `vat ${vatId} (${name}) was not given this message: ${reason}`);
        }
      });
    } else {
      this.#endVatAfterAbort(vatId, work, 'failed', reason);
    }
  }

  #consumeFailedItem(item: RunQueueItem, rejection: string): void {
    const { refs } = this.#context;
    if (item.type === 'send') {
      if (item.message.result !== null) {
        rejectPromise(this.#context, item.message.result, rejection);
      }
      refs.decrefMessage(item.message, item.target);
    } else {
      refs.decref(item.kpid);
    }
  }

  /** Runs `apply` in a crank of its own (kernel bookkeeping that no vat can fail). */
  #inCrank(apply: () => void): void {
    this.#beginCrank();
    apply();
    this.#endCrank();
  }

  #failVat(vatId: VatId, reason: string): void {
    failVat(this.#context, vatId, reason);
    this.#vats.delete(vatId);
    this.#syscallHandlers.delete(vatId);
    this.#reapDue.delete(vatId);
    this.#deliveriesSinceReap.delete(vatId);
    this.#logger.error({ vatId, reason }, 'vat failed: it keeps its state, takes no messages, and is restarted at the next start');
  }

  #terminateVat(vatId: VatId, reason: string): void {
    terminateVat(this.#context, vatId, reason);
    this.#vats.delete(vatId);
    this.#syscallHandlers.delete(vatId);
    this.#reapDue.delete(vatId);
    this.#deliveriesSinceReap.delete(vatId);
    this.#logger.warn({ vatId, reason }, 'vat terminated');
  }

  /**
   * Carries out one queued vat operation in a crank of its own, which
   * deletes its row and settles its result (vatOps.ts). A create or an
   * upgrade whose vat fails to start is rolled back whole, and a crank of
   * its own records the refusal: an upgraded vat's previous version runs
   * on, its heap still matching its state.
   */
  async #vatOpCrank(op: VatOp): Promise<void> {
    const record = this.#store.vats.getByName(op.vatName);
    const refusal = vatOpRefusal(op, record);
    if (refusal !== undefined) {
      this.#inCrank(() => finishVatOp(this.#context, op, { refusal }));
      return;
    }
    if (op.kind === 'terminate') {
      assert(record !== undefined, 'refusal checked');
      this.#inCrank(() => {
        this.#terminateVat(record.vatId, op.reason);
        this.#passVatOpCrashPoints();
        finishVatOp(this.#context, op, { value: encode({ name: op.vatName, vatId: record.vatId }) });
      });
      return;
    }
    const previous = record === undefined ? undefined : this.#vats.get(record.vatId);
    this.#beginCrank();
    let vatId: VatId;
    let value: CapData<KRef>;
    if (op.kind === 'create') {
      const created = recordNewVat(this.#context, op.vatName, op.runtime, op.bundleHash, op.parameters);
      vatId = created.vatId;
      value = encode({ name: op.vatName, vatId, root: presenceOf(created.root) });
    } else {
      assert(record !== undefined && record.state !== 'terminated', 'refusal checked');
      vatId = record.vatId;
      forgetHeap(this.#context, vatId, 'was upgraded');
      this.#store.vats.setBundle(vatId, op.bundleHash);
      this.#store.vats.dropBundleIfUnused(record.bundleHash);
      if (record.state === 'failed') this.#store.vats.markLive(vatId);
      value = encode({ name: op.vatName, vatId });
    }
    const bundleJson = this.#store.vats.getBundle(op.bundleHash);
    assert(bundleJson !== undefined, `bundle ${op.bundleHash} of vat op ${op.id} is missing`);
    const { fault } = await this.#startVat(vatId, op.vatName, bundleJson);
    if (fault !== undefined) {
      this.#abortCrank();
      // The previous version's heap still matches its state: the crank that would have replaced it is gone.
      if (previous === undefined) this.#vats.delete(vatId);
      else this.#vats.set(vatId, previous);
      const name = JSON.stringify(op.vatName);
      const what =
        op.kind === 'create'
          ? `vat ${name} failed to start`
          : `the upgrade of vat ${name} failed, and ${record?.state === 'failed' ? 'it stays failed' : 'its previous version runs on'}, its state untouched`;
      this.#logger.error({ vat: op.vatName, reason: fault }, op.kind === 'create' ? 'vat creation failed: nothing of it stays' : 'vat upgrade failed: the previous version runs on');
      this.#inCrank(() => finishVatOp(this.#context, op, { refusal: `${what}: ${fault}` }));
      return;
    }
    this.#reapDue.delete(vatId);
    this.#deliveriesSinceReap.delete(vatId);
    this.#passVatOpCrashPoints();
    finishVatOp(this.#context, op, { value });
    this.#endCrank();
    this.#logger.info({ vatId, vat: op.vatName, bundleHash: op.bundleHash }, op.kind === 'create' ? 'vat created' : 'vat upgraded');
  }

  /** In an operation's crank, and once it is committed, before its asker hears (post-commit actions run in order). */
  #passVatOpCrashPoints(): void {
    this.#crashPoints?.pass('vat-op-crank');
    this.#context.buffer.postCommit.push(() => this.#crashPoints?.pass('vat-op-committed'));
  }

  /**
   * Operations queued and committed before the last stop (or crash) are
   * carried out at start, before the node serves: whoever asked, and the
   * config's vats, find them done.
   */
  async #carryOutQueuedVatOps(): Promise<void> {
    for (let op = this.#store.vatOps.peek(); op !== undefined; op = this.#store.vatOps.peek()) {
      await this.#vatOpCrank(op);
      this.#commit();
    }
  }

  /** Builds a vat's instance and delivers `startVat`; says why it failed, if it did. */
  async #startVat(vatId: VatId, name: string, bundleJson: string): Promise<{ fault: string | undefined }> {
    const record = this.#store.vats.get(vatId);
    assert(record !== undefined, `start of missing ${vatId}`);
    const instance: VatInstance = makeVatInstance({
      vatId,
      name,
      runtime: record.runtime,
      bundleJson,
      currentSyscall: () => {
        // An instance that is not the vat's any more (its delivery was abandoned) may still have code queued: it reaches nothing.
        if (this.#syscall === undefined || this.#syscallVat !== vatId || this.#vats.get(vatId) !== instance) {
          throw new Error(`vat ${name} made a syscall outside a delivery to it`);
        }
        return this.#syscall;
      },
      logger: this.#logger,
      forcedGcIntervalMs: this.#forcedGcIntervalMs,
    });
    this.#vats.set(vatId, instance);
    const parameters = makeVatTranslator(this.#context, vatId).dataToVat(record.parameters);
    // A start is not marked: it is long, and comes right after a restart,
    // where an operator's (or a chaos test's) kills land, so chance would add
    // up to a quarantine. A start that loops is the deadline's to cut.
    const { fault, record: syscalls } = await this.#deliver(vatId, ['startVat', parameters], undefined);
    if (fault === undefined && syscalls.exit !== null) return { fault: `it exited while starting: ${describe(syscalls.exit.info)}` };
    return { fault };
  }

  /**
   * Restarts every vat that is not terminated from its durable state, as
   * after a crash: live ones, and failed ones, which get another try. One
   * whose restart fails is (still) failed, with its state kept: a node
   * always starts, whatever its vats do.
   */
  async #restartVats(): Promise<void> {
    for (const record of this.#store.vats.all()) {
      if (record.state === 'terminated') continue;
      const bundleJson = this.#store.vats.getBundle(record.bundleHash);
      assert(bundleJson !== undefined, `bundle ${record.bundleHash} of ${record.vatId} is missing`);
      let forgotten = { lostObjects: 0, rejectedPromises: 0 };
      this.#inCrank(() => (forgotten = forgetHeap(this.#context, record.vatId, 'restarted')));
      this.#beginCrank();
      const { fault } = await this.#startVat(record.vatId, record.name, bundleJson);
      if (fault === undefined) {
        if (record.state === 'failed') this.#store.vats.markLive(record.vatId);
        this.#endCrank();
        this.#logger.info({ vatId: record.vatId, vat: record.name, ...forgotten }, record.state === 'failed' ? 'failed vat restarted' : 'vat restarted');
      } else {
        this.#abortCrank();
        this.#vats.delete(record.vatId);
        const reason = `restart failed: ${fault}`;
        this.#inCrank(() => {
          if (record.state === 'live') this.#failVat(record.vatId, reason);
          else this.#store.vats.markFailed(record.vatId, reason);
        });
        if (record.state === 'failed') this.#logger.error({ vatId: record.vatId, vat: record.name, reason }, 'failed vat did not restart: it stays failed');
      }
      this.#commit();
    }
  }

  /**
   * The process died in a delivery: one more count against it. In a
   * transaction of its own, before any vat runs: it records a death, not a
   * vat's state, and must hold even if what follows fails.
   */
  #countUnfinishedDelivery(): void {
    const key = this.#marks?.unfinished;
    if (key === undefined) return;
    let deaths = 0;
    this.#inCrank(() => (deaths = this.#crashes.add(key)));
    this.#commit();
    const quarantined = deaths >= poisonDeliveryLimit;
    this.#logger.warn(
      { delivery: key, deaths, limit: poisonDeliveryLimit },
      quarantined ? 'the process died during this delivery again: it is quarantined, not delivered again' : 'the process died during a delivery: it is delivered again, and quarantined if that keeps happening',
    );
  }

  #beginCrank(): void {
    this.#context.buffer.clear();
    this.#context.refs.reset();
    this.#store.tx.beginCrank();
  }

  /** Flushes the crank buffer and frees what reached zero, inside the savepoint, then releases it. */
  #endCrank(): void {
    const { store, buffer, refs } = this.#context;
    this.#crashPoints?.pass('crank-before-flush');
    // The second point sits after the first write of the flush, so a crash
    // there leaves the transaction holding part of the crank's output.
    let written = 0;
    // A send or notify bound for a peer becomes its outbox row here (a send
    // may add sends or notifies to the buffer: a refused send's rejection;
    // they are flushed too). At start the vats restart before the remote
    // layer is set: until it is, peer-bound output waits in the run queue.
    const toPeers = this.#context.remotes !== undefined;
    for (const { target, message } of buffer.sends) {
      if (!(toPeers && sendToPeerNow(this.#context, target, message))) store.queues.enqueueSend(target, message);
      if (++written === 1) this.#crashPoints?.pass('crank-buffer-flush');
    }
    for (const { endpoint, kpid } of buffer.notifies) {
      if (!(toPeers && notifyPeerNow(this.#context, endpoint, kpid))) store.queues.enqueueNotify(endpoint, kpid);
      if (++written === 1) this.#crashPoints?.pass('crank-buffer-flush');
    }
    refs.collect();
    store.tx.endCrank();
    this.#afterCommit.push(...buffer.postCommit);
    buffer.clear();
  }

  #abortCrank(): void {
    this.#store.tx.abortCrank();
    this.#context.buffer.clear();
    this.#context.refs.reset();
    this.stats.abortedCranks += 1;
  }

  /** `idleNext`: the loop has nothing more to run after this COMMIT. */
  #commit(idleNext = false): void {
    if (this.#stopping !== undefined) throw this.#stopping;
    const started = process.hrtime.bigint();
    const committed = this.#store.tx.commit();
    this.#policy.committed();
    if (committed) {
      const elapsedNs = process.hrtime.bigint() - started;
      this.stats.commits += 1;
      this.stats.commitNs += elapsedNs;
      this.#observer.committed?.(elapsedNs);
      this.#crashPoints?.pass('after-commit-before-transmit');
    } else if (this.#afterCommit.length === 0) {
      return;
    }
    // A group whose cranks wrote nothing has no COMMIT, but what they
    // released (a hello's answer, a connection closed) must still go, after
    // what the COMMITs before it released: waiting for the next COMMIT could
    // be waiting for ever on a quiet node.
    const reads = this.#commitHooks.map((read) => read());
    const actions = this.#afterCommit.splice(0);
    // Only once the COMMIT is on disk may anything the committed cranks produced leave the kernel.
    const release = () => {
      for (const read of reads) read.beforeActions?.();
      for (const action of actions) action();
      for (const read of reads) read.afterActions?.();
    };
    if (this.#walSync === undefined || (!committed && this.#walSync.pending === 0)) {
      release();
      return;
    }
    // Released from the flush's callback, outside the loop: what it throws (a broken invariant) stops the kernel as in it.
    const releaseWhenDurable = () => {
      try {
        release();
      } catch (error) {
        this.#stopFromOutsideTheLoop(error);
      }
    };
    if (committed) this.#walSync.committed(releaseWhenDurable, idleNext);
    else this.#walSync.afterEarlierCommits(releaseWhenDurable);
  }

  /**
   * An error that came outside the run loop (a failed flush of the WAL, a
   * release that threw) stops the kernel as the loop would: at once if it
   * is idle; otherwise the loop meets it at its next COMMIT, or here once
   * it ends with nothing more to commit. Nothing is released meanwhile.
   */
  #stopFromOutsideTheLoop(error: unknown): void {
    this.#stopping ??= error;
    const stop = () => {
      if (this.#panic === undefined) this.#stopOn(error);
    };
    if (this.#running === undefined) stop();
    else void this.#running.then(stop, stop);
  }

  #assertHealthy(): void {
    if (this.#panic instanceof StorageError) throw new StorageError(`the kernel stopped earlier: ${this.#panic.message}`, this.#panic.code, { cause: this.#panic });
    if (this.#panic !== undefined) throw new KernelPanic(`kernel panicked earlier: ${this.#panic.message}`);
  }

  #assertIdle(what: string): void {
    this.#assertHealthy();
    assert(this.#running === undefined && !this.#store.tx.inCrank, `${what} while the kernel is running`);
  }

  /** Commits what is pending and closes the store; after a stop (panic, storage error), closes it as it is. */
  close(): void {
    if (this.#panic !== undefined) {
      this.#store.close();
      return;
    }
    this.#assertIdle('close');
    this.#commit();
    // The last COMMIT's release: on disk first (its outputs may still leave, as at a stop).
    this.#walSync?.flushNow();
    this.#store.close();
  }
}

/** The part of a delivery's key (deliveryCrashes.ts) that says what it delivers. */
function whatIsDelivered(work: DeliveryWork): string {
  switch (work.type) {
    case 'run':
      // The first item: what a run of notifies starts with stays the same across restarts, however long the run grows.
      return `run ${work.items[0]?.id}`;
    case 'gc':
      return `gc ${work.action.id}`;
    case 'reap':
      return 'reap';
    default:
      throw new Error(`unknown work ${JSON.stringify(work satisfies never)}`);
  }
}

/** A one-line account of marshalled data (an exit reason). */
function describe(data: CapData<KRef>): string {
  try {
    const value = decode(data);
    return value instanceof Error ? value.message : JSON.stringify(value);
  } catch {
    return data.body;
  }
}

/** Why `op` cannot be carried out on the vat of its name (`record`), if it cannot. */
function vatOpRefusal(op: VatOp, record: VatRecord | undefined): string | undefined {
  const name = JSON.stringify(op.vatName);
  if (op.kind === 'create') return record === undefined ? undefined : `a vat named ${name} already exists`;
  if (record === undefined) return `no vat named ${name}`;
  if (record.state === 'terminated') return `vat ${name} was terminated: ${record.reason}`;
  return undefined;
}
