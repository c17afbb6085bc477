import { Worker } from 'node:worker_threads';
import type { Logger } from '../util/logger.js';
import type { DeliveryGuard, Guarded } from './deliveryGuard.js';

export { defaultCrankDeadlineMs } from './crankDeadline.js';

/**
 * The crank deadline, for vats that run on the kernel's own thread.
 *
 * A vat in an endless loop never gives the thread back, so nothing on that
 * thread can stop it. A watchdog worker thread can: it watches two shared
 * words, the delivery in progress and a heartbeat the kernel's thread bumps
 * from a timer. When one delivery has been in progress past the deadline,
 * the heartbeat has not moved for as long (the thread has been running
 * JavaScript without a break), and the process has spent most of that time
 * in CPU (it was running, not starved by a loaded machine), it asks V8,
 * through an inspector session on the main thread, to terminate the
 * JavaScript running there: the vat's loop unwinds (no catch or finally of
 * it runs) and the thread goes back to its event loop. A delivery that
 * yields but never finishes is abandoned from the thread itself, after
 * four deadlines.
 *
 * Either way the guard answers `abandoned`; the kernel rolls the crank back
 * and fails the vat, whose heap is lost. Costs per delivery: two atomic
 * stores. See docs/architecture.md (Crank deadline) for why not workers.
 *
 * V8 ends the JavaScript running when it takes the termination, and the
 * rest of that microtask checkpoint with it. So that the checkpoint holds
 * the delivery's work alone, each delivery starts from a callback of its
 * own (`setImmediate`). The worker claims a delivery before it terminates
 * it (compare-and-swap of its word to `-id`); a claimed delivery is
 * abandoned whatever it does next (liveslots notices the vat is quiet and
 * returns, with the vat's work cut short). One window is left: a delivery
 * that held the thread for the whole deadline and then finishes on its own
 * in the instant between the claim and the termination; the termination
 * then ends whatever runs next. docs/architecture.md weighs it.
 */
export class CrankWatchdog implements DeliveryGuard {
  /** [0] the delivery in progress (0 none, n running, -n being terminated); [1] the heartbeat; [2] 1 once the worker's inspector session is closed. */
  readonly #words: Int32Array;
  readonly #worker: Worker;
  readonly #heartbeat: NodeJS.Timeout;
  #lastId = 0;
  #current: { id: number; startedAt: number; abandon: (reason: string) => void } | undefined;

  private constructor(
    readonly deadlineMs: number,
    private readonly logger: Logger,
    words: Int32Array,
    worker: Worker,
  ) {
    this.#words = words;
    this.#worker = worker;
    const tickMs = tickMsFor(deadlineMs);
    this.#heartbeat = setInterval(() => this.#beat(), tickMs);
    this.#heartbeat.unref();
    worker.on('message', (message: { terminated?: number; error?: string }) => {
      if (message.terminated !== undefined) this.#terminated(message.terminated, message.error);
    });
    worker.unref();
    process.once('exit', this.#closeSession);
  }

  /** Starts the watchdog thread; refuses where the runtime has no inspector to terminate with. */
  static async start(options: { deadlineMs: number; logger: Logger }): Promise<CrankWatchdog> {
    if (!process.features.inspector) {
      throw new Error('this Node.js is built without the inspector, which the crank deadline needs: set limits.crankDeadlineMs to 0 to run without one');
    }
    const words = new Int32Array(new SharedArrayBuffer(12));
    const worker = new Worker(watchdogSource, { eval: true, workerData: { shared: words.buffer, deadlineMs: options.deadlineMs, tickMs: tickMsFor(options.deadlineMs), cpuShare: runawayCpuShare } });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    return new CrankWatchdog(options.deadlineMs, options.logger, words, worker);
  }

  watch<T>(delivery: () => Promise<T>): Promise<Guarded<T>> {
    const id = (this.#lastId = this.#lastId >= 0x7fff_fff0 ? 1 : this.#lastId + 1);
    return new Promise<Guarded<T>>((resolve, reject) => {
      this.#current = { id, startedAt: Date.now(), abandon: (reason) => resolve({ abandoned: reason }) };
      Atomics.store(this.#words, 0, id);
      setImmediate(() => {
        delivery().then(
          (value) => this.#finished(id) && resolve({ done: value }),
          (error: unknown) => this.#finished(id) && reject(error),
        );
      });
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.#heartbeat);
    process.off('exit', this.#closeSession);
    this.#closeSession();
    await this.#worker.terminate();
  }

  /**
   * Closes the worker's inspector session and waits (a bounded moment) until
   * it is closed: a process that exits with the session open prints
   * "Waiting for the debugger to disconnect..." on its way out. Also run at
   * `process.exit`, which the node calls on a kernel panic.
   */
  readonly #closeSession = (): void => {
    this.#worker.postMessage('stop');
    Atomics.wait(this.#words, 2, 0, closeSessionMs);
  };

  /** The delivery returned: true if its outcome stands, false if it was abandoned (from this thread, or claimed by the watchdog). */
  #finished(id: number): boolean {
    const current = this.#current;
    if (current?.id !== id) return false;
    if (Atomics.compareExchange(this.#words, 0, id, 0) === id) {
      this.#current = undefined;
      return true;
    }
    this.#abandonTerminated(current);
    return false;
  }

  #beat(): void {
    Atomics.add(this.#words, 1, 1);
    const current = this.#current;
    // Running for many deadlines with the thread free (it never settles): abandoned from here; the worker, which claims only stuck threads, cannot have it.
    if (current === undefined || Date.now() - current.startedAt < freeThreadDeadlines * this.deadlineMs) return;
    if (Atomics.compareExchange(this.#words, 0, current.id, 0) !== current.id) return;
    this.#current = undefined;
    current.abandon(`it did not finish in ${freeThreadDeadlines} times the crank deadline of ${this.deadlineMs} ms`);
  }

  /** The watchdog terminated delivery `id` (its answer comes once the terminated JavaScript has unwound). */
  #terminated(id: number, error: string | undefined): void {
    if (error !== undefined) this.logger.error({ error }, 'the crank watchdog could not terminate a runaway delivery');
    const current = this.#current;
    if (current?.id === id) this.#abandonTerminated(current);
  }

  #abandonTerminated(current: { abandon: (reason: string) => void }): void {
    this.#current = undefined;
    Atomics.store(this.#words, 0, 0);
    current.abandon(`it ran past the crank deadline of ${this.deadlineMs} ms without giving the thread back, and was terminated`);
  }
}

/**
 * Of the deadline, how much CPU the process must have spent since the
 * delivery began before the worker terminates it: a loop spends all of
 * it; a thread starved by a loaded machine spends little, and is left be.
 */
const runawayCpuShare = 0.75;

/**
 * A delivery that gives the thread back but never finishes is abandoned
 * after this many deadlines of wall time: it costs nothing while it waits,
 * and on a loaded machine an honest delivery may take a while.
 */
const freeThreadDeadlines = 4;

/** How long closing the worker's session may hold an exit (it takes about a millisecond). */
const closeSessionMs = 500;

/** How often the heartbeat and the watchdog look: often enough for the deadline's precision, rarely enough to cost nothing. */
function tickMsFor(deadlineMs: number): number {
  return Math.max(10, Math.min(250, Math.floor(deadlineMs / 4)));
}

/**
 * The watchdog thread (a CommonJS script: it runs from source and from the
 * build alike). It claims a delivery only when the main thread is stuck in
 * it: the delivery and the heartbeat both unchanged for the deadline.
 */
const watchdogSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { Session } = require('node:inspector');
const words = new Int32Array(workerData.shared);
const { deadlineMs, tickMs, cpuShare } = workerData;
const session = new Session();
session.connectToMainThread();
const cpuMs = () => { const { user, system } = process.cpuUsage(); return (user + system) / 1000; };
let watched = 0;
let since = Date.now();
let cpuSince = cpuMs();
let beat = Atomics.load(words, 1);
let beatAt = Date.now();
const timer = setInterval(() => {
  const now = Date.now();
  const heartbeat = Atomics.load(words, 1);
  if (heartbeat !== beat) { beat = heartbeat; beatAt = now; }
  const delivery = Atomics.load(words, 0);
  if (delivery !== watched) { watched = delivery; since = now; cpuSince = cpuMs(); }
  if (delivery <= 0 || now - since < deadlineMs || now - beatAt < deadlineMs) return;
  // The process must have burned most of the deadline in CPU meanwhile: a thread that was only starved (a loaded machine) is not a runaway.
  if (cpuMs() - cpuSince < cpuShare * deadlineMs) return;
  if (Atomics.compareExchange(words, 0, delivery, -delivery) !== delivery) return;
  session.post('Runtime.terminateExecution', (error) => {
    parentPort.postMessage({ terminated: delivery, error: error ? String(error.message) : undefined });
  });
}, tickMs);
parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  session.disconnect();
  Atomics.store(words, 2, 1);
  Atomics.notify(words, 2);
  parentPort.close();
});
parentPort.postMessage({ ready: true });
`;
