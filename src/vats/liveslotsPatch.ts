import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** What ken-node's patch (patches/@agoric+swingset-liveslots+*.patch) adds to liveslots: its send-only path. */
const patchMark = 'function announceArgumentPromises(';

let checked = false;

/** Throws unless `source` (liveslots.js, read from `where`) carries ken-node's patch. */
export function assertPatchedLiveslotsSource(source: string, where: string): void {
  if (source.includes(patchMark)) return;
  throw new Error(
    `@agoric/swingset-liveslots in ${where} lacks ken-node's patch (send-only messages would be lost): ` +
      'run `npm install` (or `npx patch-package`) in the ken-node directory, with install scripts allowed',
  );
}

/**
 * Refuses to run vats on an unpatched liveslots: there, `E.sendOnly(presence).m()`
 * loses the message without a word. The patch is applied at `npm install`
 * (`postinstall`); an install that skipped scripts lacks it.
 */
export function assertLiveslotsPatched(): void {
  if (checked) return;
  const require = createRequire(import.meta.url);
  const packageDir = path.dirname(require.resolve('@agoric/swingset-liveslots/package.json'));
  assertPatchedLiveslotsSource(readFileSync(path.join(packageDir, 'src', 'liveslots.js'), 'utf8'), packageDir);
  checked = true;
}
