import { closeSync, existsSync, openSync, readSync, writeSync } from 'node:fs';

/** What the kernel tells of each delivery, so that the next start knows which one a dead process was in. */
export interface DeliveryMarks {
  /** The delivery in progress when the process last died, if it died in one (read at open). */
  readonly unfinished: string | undefined;
  begin(key: string): void;
  end(): void;
  close(): void;
}

/** A key longer than this is cut: it names a vat and a queue entry, tens of bytes. */
const maxKeyBytes = 512;

/**
 * The delivery in progress, in a small file beside the store: written
 * (one `pwrite`, no fsync) before each delivery and cleared after it. A
 * process that dies (a crash, the OOM killer, SIGKILL) leaves its writes
 * in the OS page cache, so the next start reads what it was doing when it
 * died; only a machine crash can lose the mark, and then one count of it.
 * Not part of the store's transactions on purpose: it must say what was
 * running even when the crank that ran it is rolled back.
 */
export class DeliveryMarker implements DeliveryMarks {
  readonly unfinished: string | undefined;
  readonly #fd: number;
  readonly #buffer = Buffer.alloc(4 + maxKeyBytes);

  constructor(file: string) {
    this.#fd = openSync(file, existsSync(file) ? 'r+' : 'w+', 0o600);
    this.unfinished = this.#read();
    this.end();
  }

  begin(key: string): void {
    const length = this.#buffer.write(key, 4, maxKeyBytes, 'utf8');
    this.#buffer.writeUInt32LE(length, 0);
    writeSync(this.#fd, this.#buffer, 0, 4 + length, 0);
  }

  end(): void {
    this.#buffer.writeUInt32LE(0, 0);
    writeSync(this.#fd, this.#buffer, 0, 4, 0);
  }

  close(): void {
    closeSync(this.#fd);
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
