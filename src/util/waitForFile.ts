import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The trimmed text of `file` once it exists (writers rename a finished file
 * into place, so it is never read half-written). Gives up after `timeoutMs`,
 * or as soon as `gone()` says the writer died.
 */
export async function waitForFile(file: string, timeoutMs: number, gone: () => boolean = () => false): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      if (gone()) throw new Error(`the process that was to write ${file} exited; see its log in the run directory`);
      if (Date.now() > deadline) throw new Error(`${file} did not appear within ${timeoutMs / 1000} s`);
      await sleep(50);
    }
  }
}
