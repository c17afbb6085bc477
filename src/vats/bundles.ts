import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import bundleSource from '@endo/bundle-source';
import { packageRoot } from '../util/packageRoot.js';

/** A vat's code: an Endo bundle and the content hash that names it. */
export interface VatBundle {
  /** sha512 of {@link VatBundle.json}, hex. */
  hash: string;
  json: string;
}

interface CacheMeta {
  /** Every file the bundler read, with the sha256 of its contents. */
  files: { url: string; sha256: string }[];
  bundleHash: string;
}

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

/** A vat source that cannot be bundled: missing, or refused by the bundler (the message says why). */
export class BundleError extends Error {
  override name = 'BundleError';
}

/** {@link bundleVat}, with a missing file or a bundler's refusal as a {@link BundleError} that names the file. */
export async function bundleSourceFile(source: string): Promise<VatBundle> {
  if (!existsSync(source)) throw new BundleError(`${source} does not exist`);
  try {
    return await bundleVat(source);
  } catch (error) {
    throw new BundleError(`${source} does not bundle: ${(error as Error).message}`);
  }
}

/** Names a bundle by the hash of its serialized form. */
export function bundleFromJson(json: string): VatBundle {
  return { hash: createHash('sha512').update(json).digest('hex'), json };
}

/** The source of an example vat shipped in `examples/vats` (the demo's and the benchmarks'). */
export function exampleVatPath(name: string): string {
  return path.join(packageRoot, 'examples', 'vats', `${name}.js`);
}

/** The default bundle cache, shared by every node and test on this checkout. */
export const defaultBundleCacheDir = path.join(packageRoot, 'node_modules', '.cache', 'ken-node', 'bundles');

/**
 * Bundles the vat module at `sourcePath` with @endo/bundle-source. The result
 * is cached by content: the cache remembers the hash of every file the
 * bundler read (the module and its dependencies), and is reused only while
 * all of them still hash the same. Bundling takes seconds; a hit takes
 * milliseconds.
 */
export async function bundleVat(sourcePath: string, cacheDir = defaultBundleCacheDir): Promise<VatBundle> {
  const absolute = path.resolve(sourcePath);
  const key = sha256(absolute);
  const metaPath = path.join(cacheDir, `${key}.meta.json`);
  const cached = await readCache(metaPath, cacheDir);
  if (cached !== undefined) {
    return cached;
  }
  const files: CacheMeta['files'] = [];
  const { entry, realLocation } = placementOf(absolute);
  const read = async (location: string) => {
    const real = realLocation(location);
    const bytes = await readFile(new URL(real));
    files.push({ url: real, sha256: sha256(bytes) });
    return bytes;
  };
  const maybeRead = (location: string) =>
    read(location).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'EISDIR') return undefined;
      throw error;
    });
  const bundle = await bundleSource(entry, { format: 'endoZipBase64' }, { read, maybeRead } as never);
  const result = bundleFromJson(JSON.stringify(bundle));
  await mkdir(cacheDir, { recursive: true });
  await writeAtomically(path.join(cacheDir, `${result.hash}.json`), result.json);
  const meta: CacheMeta = { files, bundleHash: result.hash };
  await writeAtomically(metaPath, JSON.stringify(meta));
  return result;
}

/**
 * Where the bundler is told a source lives. A source inside a package (a
 * `package.json` in its directory or above) is bundled where it is, with
 * that package's dependencies. One outside any package (a lone file, say
 * in /etc or a home directory), which the bundler would refuse ("Cannot
 * find package.json"), is presented as if its directory sat inside
 * ken-node's own package, at a path that does not exist, so that its
 * imports of `@endo/*` resolve from ken-node's dependencies and its
 * relative imports from its own directory; `realLocation` maps what the
 * bundler reads back to the real files. Nothing is written there.
 */
function placementOf(absolute: string): { entry: string; realLocation: (location: string) => string } {
  const directory = path.dirname(absolute);
  if (hasPackageAbove(directory)) return { entry: absolute, realLocation: (location) => location };
  const stand = path.join(packageRoot, '.outside-sources', sha256(directory).slice(0, 16));
  const standUrl = pathToFileURL(`${stand}${path.sep}`).href;
  const realUrl = pathToFileURL(`${directory}${path.sep}`).href;
  return {
    entry: path.join(stand, path.basename(absolute)),
    realLocation: (location) => (location.startsWith(standUrl) ? realUrl + location.slice(standUrl.length) : location),
  };
}

function hasPackageAbove(directory: string): boolean {
  for (let current = directory; ; current = path.dirname(current)) {
    if (existsSync(path.join(current, 'package.json'))) return true;
    if (path.dirname(current) === current) return false;
  }
}

async function readCache(metaPath: string, cacheDir: string): Promise<VatBundle | undefined> {
  let meta: CacheMeta;
  try {
    meta = JSON.parse(await readFile(metaPath, 'utf8')) as CacheMeta;
  } catch {
    return undefined; // no cache entry yet, or a torn one: bundle afresh
  }
  for (const file of meta.files) {
    const current = await readFile(new URL(file.url)).catch(() => undefined);
    if (current === undefined || sha256(current) !== file.sha256) {
      return undefined;
    }
  }
  const json = await readFile(path.join(cacheDir, `${meta.bundleHash}.json`), 'utf8').catch(() => undefined);
  if (json === undefined) {
    return undefined;
  }
  const bundle = bundleFromJson(json);
  return bundle.hash === meta.bundleHash ? bundle : undefined;
}

/** Write-then-rename, so concurrent bundlers never see a torn file. */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, file);
}
