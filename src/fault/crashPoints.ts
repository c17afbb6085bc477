/**
 * Named places in the commit and transmit paths where a fault test can make
 * the node die, as abruptly as SIGKILL: no cleanup, no further writes. Each
 * one is a moment where a wrong design would lose, duplicate or invent a
 * message (docs/testing.md says what each one checks).
 */
export const crashPointNames = [
  /** A crank's syscalls are done, its buffer not yet flushed into the store. */
  'crank-before-flush',
  /** Half-way through flushing a crank buffer: some of its sends are in the store's transaction, some not. */
  'crank-buffer-flush',
  /** COMMIT returned; nothing it released (outbox rows, acks, host results) has left yet. */
  'after-commit-before-transmit',
  /** A peer's message is consumed in a crank (queued, `received_seq` advanced) that has not committed. */
  'after-receive-before-commit',
  /** An ack deleted outbox rows in a crank; `acked_seq` not yet advanced, nothing committed. */
  'outbox-delete-after-ack',
] as const;

/**
 * Points in the kernel's own committed operations, for the tests of those
 * (a real process killed there: test/cli/vatAdmin.test.ts); the simulation
 * draws only from {@link crashPointNames}, whose sweep must pass each.
 */
export const operationCrashPointNames = [
  /** A vat operation (create, upgrade, terminate) is carried out in its crank, which has not committed. */
  'vat-op-crank',
  /** That crank is committed; its asker has not been answered. */
  'vat-op-committed',
  /** Timers that came due were fired in a crank (sends, settled delays), which has not committed. */
  'timer-fire-crank',
] as const;

export type CrashPointName = (typeof crashPointNames)[number] | (typeof operationCrashPointNames)[number];

const allCrashPointNames: readonly CrashPointName[] = [...crashPointNames, ...operationCrashPointNames];

/** Dies at the `occurrence`-th time (1-based) the point named `point` is passed. */
export interface CrashArming {
  point: CrashPointName;
  occurrence: number;
}

/** What passing an armed point does: never returns. */
export type Crash = (point: CrashPointName) => never;

/** SIGKILL of this process: what a real node does at an armed point. */
export const killProcess: Crash = (point) => {
  process.stderr.write(`ken-node: crash point ${point} reached; killing this process\n`);
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is not delivered synchronously on every platform; never run on.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
};

/**
 * The points of one node. Unarmed, passing a point costs a Map lookup; the
 * counts are kept so a test can say which points a run went through.
 */
export class CrashPoints {
  /** Times each point was passed since the last {@link CrashPoints.arm}. */
  readonly passed = new Map<CrashPointName, number>();
  #arming: CrashArming | undefined;
  readonly #crash: Crash;

  constructor(arming?: CrashArming, crash: Crash = killProcess) {
    this.#crash = crash;
    this.arm(arming);
  }

  /** Arms one point (or none), counting occurrences from now. */
  arm(arming: CrashArming | undefined): void {
    if (arming !== undefined) {
      if (!allCrashPointNames.includes(arming.point)) {
        throw new RangeError(`unknown crash point ${JSON.stringify(arming.point)}; known: ${allCrashPointNames.join(', ')}`);
      }
      if (!Number.isSafeInteger(arming.occurrence) || arming.occurrence < 1) {
        throw new RangeError(`crash occurrence must be an integer >= 1, got ${arming.occurrence}`);
      }
    }
    this.#arming = arming;
    this.passed.clear();
  }

  pass(point: CrashPointName): void {
    const count = (this.passed.get(point) ?? 0) + 1;
    this.passed.set(point, count);
    if (this.#arming?.point === point && this.#arming.occurrence === count) this.#crash(point);
  }
}

/** Parses `point:occurrence` (the `--crash-at` flag and `KEN_CRASH_AT`). */
export function parseCrashArming(text: string): CrashArming {
  const match = /^([a-z-]+):(\d+)$/.exec(text);
  if (match === null) throw new RangeError(`crash point must look like <point>:<occurrence>, got ${JSON.stringify(text)}`);
  const arming = { point: match[1] as CrashPointName, occurrence: Number(match[2]) };
  new CrashPoints().arm(arming); // validates
  return arming;
}
