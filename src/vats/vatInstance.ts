import type { Logger } from '../util/logger.js';
import { makeLeanVatInstance } from './lean/leanVat.js';
import { makeLiveslotsVatInstance } from './liveslotsVat.js';
import type { VatRuntime } from './runtimes.js';
import type { DeliveryOutcome, VatDelivery, VatSyscall } from './types.js';
import { makeVatConsole } from './vatConsole.js';

/** A running vat: its runtime and its compartment, inside this process. */
export interface VatInstance {
  deliver(delivery: VatDelivery): Promise<DeliveryOutcome>;
}

export { vatRuntimes, type VatRuntime } from './runtimes.js';

/**
 * Builds a vat on its runtime. Syscalls go to whatever `currentSyscall()`
 * returns; the kernel points it at the crank in progress.
 */
export function makeVatInstance(options: {
  vatId: string;
  name: string;
  runtime: VatRuntime;
  bundleJson: string;
  currentSyscall: () => VatSyscall;
  logger: Logger;
  /** At most one forced engine GC per this many milliseconds (0: every reap). */
  forcedGcIntervalMs: number;
}): VatInstance {
  const { vatId, name, runtime, bundleJson, currentSyscall, logger, forcedGcIntervalMs } = options;
  const vatConsole = makeVatConsole(logger, name);
  switch (runtime) {
    case 'liveslots':
      return makeLiveslotsVatInstance({ vatId, bundleJson, currentSyscall, vatConsole, forcedGcIntervalMs });
    case 'lean':
      return makeLeanVatInstance({ bundleJson, currentSyscall, vatConsole, forcedGcIntervalMs });
    default:
      throw new Error(`unknown vat runtime ${JSON.stringify(runtime satisfies never)}`);
  }
}
