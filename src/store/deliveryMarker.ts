import { closeSync, existsSync, openSync, readSync, writeSync } from 'node:fs';

/** What the kernel tells of each delivery, so that the next start knows which one a dead process was in. */
export interface DeliveryMarks {
  /** The delivery in progress when the process last died, if it died in one (read at open). */
  readonly unfinished: string | undefined;
  begin(key: string): void;
  /** The delivery finished: the mark is cleared once no delivery follows at once ({@link DeliveryMarks.idle}) or the next one replaces it. */
  end(): void;
  /** No delivery follows at once (the run loop went idle): a finished delivery's mark is cleared now. */
  idle(): void;
  close(): void;
}

/** A key longer than this is cut: it names a vat and a queue entry, tens of bytes. */
const maxKeyBytes = 512;

/**
 * The delivery in progress, in a small file beside the store: written
 * (one `pwrite`, no fsync) before each delivery. A process that dies (a
 * crash, the OOM killer, SIGKILL) leaves its writes in the OS page cache,
 * so the next start reads what it was doing when it died; only a machine
 * crash can lose the mark, and then one count of it. Not part of the
 * store's transactions on purpose: it must say what was running even when
 * the crank that ran it is rolled back.
 *
 * A finished delivery's mark is not cleared at once: the next delivery's
 * mark replaces it, and the run loop clears it when it goes idle. One
 * write per delivery instead of two; what it costs is that a process
 * killed in the microseconds between two deliveries blames the one that
 * just finished, as a kill inside it would have. A delivery that finishes
 * clears its count (deliveryCrashes.ts), so a count made by chance does
 * not add up to a quarantine.
 */
export class DeliveryMarker implements DeliveryMarks {
  readonly unfinished: string | undefined;
  readonly #fd: number;
  readonly #buffer = Buffer.alloc(4 + maxKeyBytes);
  /** The file names a delivery that has finished. */
  #finished = false;

  constructor(file: string) {
    this.#fd = openSync(file, existsSync(file) ? 'r+' : 'w+', 0o600);
    this.unfinished = this.#read();
    this.#clear();
  }

  begin(key: string): void {
    const length = this.#buffer.write(key, 4, maxKeyBytes, 'utf8');
    this.#buffer.writeUInt32LE(length, 0);
    writeSync(this.#fd, this.#buffer, 0, 4 + length, 0);
    this.#finished = false;
  }

  end(): void {
    this.#finished = true;
  }

  idle(): void {
    if (this.#finished) this.#clear();
  }

  close(): void {
    this.idle();
    closeSync(this.#fd);
  }

  #clear(): void {
    this.#buffer.writeUInt32LE(0, 0);
    writeSync(this.#fd, this.#buffer, 0, 4, 0);
    this.#finished = false;
  }

  #read(): string | undefined {
    const read = readSync(this.#fd, this.#buffer, 0, this.#buffer.length, 0);
    if (read < 4) return undefined;
    const length = this.#buffer.readUInt32LE(0);
    if (length === 0) return undefined;
    // A torn or foreign file says nothing reliable: no delivery is blamed for it.
    if (length > maxKeyBytes || 4 + length > read) return undefined;
    return this.#buffer.toString('utf8', 4, 4 + length);
  }
}
