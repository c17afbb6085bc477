import type { CrashPoints } from '../../src/fault/crashPoints.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KenNode, type TransportChoice } from '../../src/node/node.js';
import type { SessionOptions } from '../../src/remote/session.js';
import type { Durability } from '../../src/store/index.js';
import type { WalDisk } from '../../src/store/walSync.js';
import type { Clock } from '../../src/util/clock.js';
import { recordingLogger } from './harness.js';

/** Temporary directories that `cleanup` removes. */
export function tempDirs() {
  const directories: string[] = [];
  return {
    make(prefix: string): string {
      const directory = mkdtempSync(path.join(tmpdir(), prefix));
      directories.push(directory);
      return directory;
    },
    cleanup(): void {
      directories.splice(0).forEach((directory) => rmSync(directory, { recursive: true, force: true }));
    },
  };
}

/** A node's transport, whose libp2p key file is the one in `dir` unless given. */
type TestTransport =
  | Exclude<TransportChoice, { kind: 'libp2p' }>
  | (Omit<Extract<TransportChoice, { kind: 'libp2p' }>, 'keyFile'> & { keyFile?: string });

export async function startNode(options: {
  dir: string;
  transport: TestTransport;
  durability?: Durability;
  commit?: { maxCranks: number; maxDelayMs: number };
  session?: Partial<SessionOptions>;
  crashPoints?: CrashPoints;
  disk?: WalDisk;
  clock?: Clock;
}) {
  const logger = recordingLogger();
  const node = await KenNode.start({
    storePath: path.join(options.dir, 'kernel.sqlite'),
    durability: options.durability ?? 'process',
    logger,
    transport: options.transport.kind === 'libp2p' ? { keyFile: path.join(options.dir, 'node.key'), ...options.transport } : options.transport,
    commit: options.commit,
    crashPoints: options.crashPoints,
    disk: options.disk,
    clock: options.clock,
    session: { resendMs: 200, maxResendMs: 1000, ...options.session },
  });
  return { node, logger };
}

/** Polls `check` until it returns true, at most `timeoutMs`; says what it waited for if it never does. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; Date.now() < deadline && attempt < 100_000; attempt += 1) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
