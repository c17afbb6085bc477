import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestKernel, testVat } from '../../test/support/harness.js';
import { vatRuntimes } from './vatInstance.js';

let dir: string;
let marker: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ken-confinement-'));
  marker = path.join(dir, 'escaped');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Attempts the report must hold (the probe vat has more): a renamed or dropped one must not pass unnoticed. */
const requiredAttempts = [
  'process',
  'require',
  'dynamic import of node:fs in eval',
  'dynamic import of node:fs in Function',
  'fetch',
  'WebSocket',
  'setTimeout',
  'Date.now()',
  'Math.random()',
  'indirect eval global',
  'Function("return this")()',
  'console.log.constructor',
  'VatData.defineKind.constructor',
  'Error.prepareStackTrace',
  'Object.prototype pollution',
];

describe.each(vatRuntimes)('vat confinement on %s: a vat reaches only what it was given', (runtime) => {
  it('reaches no host global, clock, randomness, evaluator escape, module loader or shared intrinsic', async () => {
    const { kernel } = await startTestKernel();
    await kernel.createVat({ name: 'probe', bundle: await testVat('confinement'), parameters: { marker }, runtime });
    const root = kernel.rootOf('probe');
    // Control: what the vat was given is reachable, so the probe can tell "there" from "not there".
    expect(await kernel.call(root, 'given')).toEqual({ console: 'function', assert: 'function', VatData: 'function', harden: 'function' });

    const report = (await kernel.call(root, 'probe')) as Record<string, string>;
    expect(Object.keys(report)).toEqual(expect.arrayContaining(requiredAttempts));
    const reached = Object.entries(report).filter(([, outcome]) => !outcome.startsWith('blocked'));
    expect(reached).toEqual([]);
    // And from the host's side: no file was written, no shared intrinsic changed.
    expect(existsSync(marker)).toBe(false);
    expect((Object.prototype as Record<string, unknown>).kenConfinementProbe).toBeUndefined();
    expect([1].push(2)).toBe(2);
    expect(JSON.parse('{"a":1}')).toEqual({ a: 1 });
    kernel.close();
  });

  it('does not load a vat that imports a host module (node:fs)', async () => {
    const { kernel, store } = await startTestKernel();
    // What the request moved (the result promise's counter, the operations' sequence) is all that may differ.
    const stateOf = () => {
      const { kernel_meta: _counters, sqlite_sequence: _sequences, ...tables } = store.dump();
      return tables;
    };
    const before = stateOf();
    await expect(kernel.createVat({ name: 'importsFs', bundle: await testVat('importsFs'), parameters: { marker }, runtime })).rejects.toThrow(
      /Cannot find module "node:fs"/,
    );
    expect(existsSync(marker)).toBe(false);
    expect(kernel.hasVat('importsFs')).toBe(false);
    expect(stateOf()).toEqual(before);
    kernel.close();
  });
});
