import path from 'node:path';
import { Kernel, type KernelOptions } from '../../src/kernel/kernel.js';
import type { Logger } from '../../src/util/logger.js';
import { openStore, type Durability, type KernelStore } from '../../src/store/index.js';
import { bundleVat, exampleVatPath, type VatBundle } from '../../src/vats/bundles.js';
import { packageRoot } from '../../src/util/packageRoot.js';
import type { WalDisk } from '../../src/store/walSync.js';

/** The bundle of a vat in examples/vats. */
export function exampleVat(name: string): Promise<VatBundle> {
  return bundleVat(exampleVatPath(name));
}

/** The bundle of a vat in test/vats (cached by content hash across runs). */
export function testVat(name: string): Promise<VatBundle> {
  return bundleVat(path.join(packageRoot, 'test', 'vats', `${name}.js`));
}

export interface LogEntry {
  level: string;
  object: object;
  message: string | undefined;
}

/** A logger that keeps what it is told, for assertions on what the kernel logged. */
export function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: string) => (object: object, message?: string) => void entries.push({ level, object, message });
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export interface TestKernel {
  kernel: Kernel;
  store: KernelStore;
  logger: ReturnType<typeof recordingLogger>;
}

/** Opens a store (in memory unless `path` is given) and starts a kernel on it. */
export async function startTestKernel(
  options: { path?: string; durability?: Durability; disk?: WalDisk } & Omit<Partial<KernelOptions>, 'store'> = {},
): Promise<TestKernel> {
  const store = openStore({ path: options.path ?? ':memory:', durability: options.durability ?? 'fsync', disk: options.disk });
  const logger = recordingLogger();
  const kernel = await Kernel.start({ ...options, store, logger });
  return { kernel, store, logger };
}
