import type { Kernel } from '../kernel/kernel.js';
import { bundleVat, exampleVatPath } from '../vats/bundles.js';
import type { VatRuntime } from '../vats/vatInstance.js';

/**
 * The local exactly-once workload: a `sender` vat numbers messages with a
 * durable counter and sends them to a `recorder` vat, which counts and logs
 * each one durably. Interrupted at any instant (SIGKILL included) and
 * resumed on the same store, it ends with the recorder's log exactly
 * 1..messages: every message consumed once, in order.
 */
export interface LocalWorkloadOptions {
  messages: number;
  /** Messages the sender sends per delivery. */
  batch: number;
  /** Called after each batch is consumed. */
  onProgress?: (sent: number) => void;
}

export interface WorkloadVerdict {
  consumed: number;
  exactlyOnceInOrder: boolean;
  /** The first position where the log differs from 1..messages, if any. */
  firstMismatch?: { index: number; expected: number; found: number | undefined };
}

/** Creates the workload's vats unless a previous run on this store already did. */
export async function ensureWorkloadVats(kernel: Kernel, runtime: VatRuntime = 'liveslots'): Promise<{ sender: object; recorder: object }> {
  for (const name of ['recorder', 'sender']) {
    if (!kernel.hasVat(name)) {
      await kernel.createVat({ name, bundle: await bundleVat(exampleVatPath(name)), runtime });
    }
  }
  return { sender: kernel.rootOf('sender'), recorder: kernel.rootOf('recorder') };
}

/** Sends what is left to send (the sender's durable counter says where it stopped), until all are consumed. */
export async function runLocalWorkload(kernel: Kernel, options: LocalWorkloadOptions): Promise<WorkloadVerdict> {
  const { sender, recorder } = await ensureWorkloadVats(kernel);
  // Whatever a previous run committed but did not deliver goes first.
  await kernel.run();
  const limit = Math.ceil(options.messages / options.batch) + 1;
  for (let round = 0; round < limit; round += 1) {
    const next = (await kernel.call(sender, 'nextSeq')) as number;
    if (next > options.messages) break;
    const sent = (await kernel.call(sender, 'sendBatch', [recorder, options.batch, options.messages])) as number;
    options.onProgress?.(sent);
  }
  return verifyWorkload(kernel, options.messages);
}

/** Reads the recorder's durable log and checks it is exactly 1..messages. */
export async function verifyWorkload(kernel: Kernel, messages: number): Promise<WorkloadVerdict> {
  const entries = (await kernel.call(kernel.rootOf('recorder'), 'entries')) as number[];
  const length = Math.max(entries.length, messages);
  for (let index = 0; index < length; index += 1) {
    if (entries[index] !== index + 1) {
      return {
        consumed: entries.length,
        exactlyOnceInOrder: false,
        firstMismatch: { index, expected: index + 1, found: entries[index] },
      };
    }
  }
  return { consumed: entries.length, exactlyOnceInOrder: true };
}
