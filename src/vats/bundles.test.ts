import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bundleFromJson, bundleVat } from './bundles.js';

const directories: string[] = [];
afterEach(() => directories.splice(0).forEach((directory) => rmSync(directory, { recursive: true, force: true })));

function scratch(): string {
  const directory = mkdtempSync(path.join(tmpdir(), 'ken-bundles-'));
  directories.push(directory);
  return directory;
}

const vatSource = (greeting: string) =>
  `import { Far } from '@endo/far';\nexport const buildRootObject = () => Far('root', { hi: () => '${greeting}' });\n`;

describe('vat bundles', () => {
  it('names a bundle by its content and reuses the cache until a source file changes', async () => {
    // The vat sits inside the package so that @endo/far resolves from node_modules.
    const directory = mkdtempSync(path.join(import.meta.dirname, '.bundle-test-'));
    directories.push(directory);
    const cache = scratch();
    const source = path.join(directory, 'vat.js');
    writeFileSync(source, vatSource('one'));

    const first = await bundleVat(source, cache);
    expect(first.hash).toBe(bundleFromJson(first.json).hash);
    expect(JSON.parse(first.json)).toMatchObject({ moduleFormat: 'endoZipBase64' });
    const again = await bundleVat(source, cache);
    expect(again).toEqual(first);

    writeFileSync(source, vatSource('two'));
    const changed = await bundleVat(source, cache);
    expect(changed.hash).not.toBe(first.hash);
  });

  it('bundles afresh when the cache entry is torn', async () => {
    const directory = mkdtempSync(path.join(import.meta.dirname, '.bundle-test-'));
    directories.push(directory);
    const cache = scratch();
    const source = path.join(directory, 'vat.js');
    writeFileSync(source, vatSource('three'));
    const first = await bundleVat(source, cache);
    writeFileSync(path.join(cache, `${first.hash}.json`), '{"torn":');
    expect(await bundleVat(source, cache)).toEqual(first);
  });
});
