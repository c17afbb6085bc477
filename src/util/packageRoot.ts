import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let directory = path.dirname(fileURLToPath(import.meta.url));
  // Bounded walk: this file sits at most a few folders below the root,
  // whether it runs from src/ (tests) or dist/src/ (the built CLI).
  for (let depth = 0; depth < 8; depth += 1) {
    const manifest = path.join(directory, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'ken-node') {
      return directory;
    }
    directory = path.dirname(directory);
  }
  throw new Error(`cannot find the ken-node package root above ${fileURLToPath(import.meta.url)}`);
}

/** The folder holding ken-node's package.json: examples and caches are found from here. */
export const packageRoot = findPackageRoot();
