import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestKernel } from '../../test/support/harness.js';
import { BundleError, bundleFromJson, bundleSourceFile, bundleVat } from './bundles.js';

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

  it('bundles a lone file outside any package, its @endo imports from ken-node\'s dependencies, its relative ones from beside it; the cache follows the real files', async () => {
    const directory = scratch();
    const cache = scratch();
    const source = path.join(directory, 'lone.js');
    writeFileSync(path.join(directory, 'greeting.js'), "export const greeting = 'from beside';\n");
    writeFileSync(source, "import { Far } from '@endo/far';\nimport { greeting } from './greeting.js';\nexport const buildRootObject = () => Far('root', { hi: () => greeting });\n");

    const bundle = await bundleVat(source, cache);
    const { kernel } = await startTestKernel();
    await kernel.createVat({ name: 'lone', bundle });
    expect(await kernel.call(kernel.rootOf('lone'), 'hi')).toBe('from beside');
    kernel.close();

    writeFileSync(path.join(directory, 'greeting.js'), "export const greeting = 'changed';\n");
    expect((await bundleVat(source, cache)).hash).not.toBe(bundle.hash);
  });

  it('says which file it cannot bundle, and why', async () => {
    const directory = scratch();
    await expect(bundleSourceFile(path.join(directory, 'missing.js'))).rejects.toThrow(new BundleError(`${path.join(directory, 'missing.js')} does not exist`));
    writeFileSync(path.join(directory, 'bad.js'), "import { nothing } from '@endo/no-such-package';\n");
    await expect(bundleSourceFile(path.join(directory, 'bad.js'))).rejects.toThrow(/bad\.js does not bundle: .*no-such-package/);
  });
});
