import { constants } from 'node:os';
import type { KernelPanic } from '../kernel/kernel.js';
import { StorageError } from '../store/index.js';
import type { Logger } from '../util/logger.js';

/** What a node may spend, after a stop signal, writing the frames its last commit released. */
export const shutdownFlushMs = 2_000;

/**
 * Waits for SIGTERM or SIGINT, then runs `stop` (finish the crank in
 * progress, commit, flush, close) and resolves with the exit code: 0 if it
 * stopped cleanly. A second signal exits at once with 128 + the signal's
 * number: safe at any instant, since the store holds the last commit and
 * whatever was not committed is redone or resent after the next start.
 */
export function stopOnSignal(stop: () => Promise<void>, logger: Logger): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (!stopping) {
        stopping = true;
        logger.info({ signal }, 'stopping: finishing the crank in progress (a second signal exits at once)');
        stop().then(
          () => {
            logger.info({}, 'stopped');
            resolve(0);
          },
          (error: unknown) => {
            logger.error({ err: error }, 'the node did not stop cleanly; the store holds the last commit');
            resolve(1);
          },
        );
        return;
      }
      logger.warn({ signal }, 'second signal: exiting now; the store holds the last commit');
      process.exit(128 + constants.signals[signal]);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** For the kernel's observer: a stopped kernel cannot go on, so the process ends (exit 1), to be restarted once the cause is fixed. */
export function exitOnKernelStop(logger: Logger): (error: KernelPanic | StorageError) => void {
  return (error) => {
    const what = error instanceof StorageError ? 'the storage failed; fix it, then restart the node' : 'the kernel panicked; restart the node';
    logger.error({ err: error }, `exiting: ${what} (the store holds the last commit)`);
    setImmediate(() => process.exit(1));
  };
}
