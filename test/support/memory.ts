import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/**
 * The process's resident memory after a full garbage collection: what it
 * holds, not how far V8 let its garbage grow before collecting it (that
 * depends on when the collector happened to run, and swung a peak by more
 * than 100 MB between runs of the same test).
 */
export function residentAfterGc(): number {
  gc();
  return process.memoryUsage().rss;
}
