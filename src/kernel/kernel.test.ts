import fs, { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exampleVat, startTestKernel, testVat } from '../../test/support/harness.js';
import { StorageError } from '../store/index.js';
import type { FdatasyncFn } from '../store/walSync.js';
import { systemClock } from '../util/clock.js';
import type { ExternalWork, Kernel } from './kernel.js';
import { encode, krefOf } from './kmarshal.js';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function twoVats() {
  const test = await startTestKernel();
  const { kernel } = test;
  await kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
  await kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
  return { ...test, recorder: kernel.rootOf('recorder'), sender: kernel.rootOf('sender') };
}

describe('kernel: local messages', () => {
  it('delivers sends between vats in order and settles host results after commit', async () => {
    const { kernel, recorder, sender } = await twoVats();
    expect(await kernel.call(sender, 'sendBatch', [recorder, 50, 1000])).toBe(50);
    expect(await kernel.call(recorder, 'entries')).toEqual(range(1, 50));
    expect(await kernel.call(sender, 'pingPong', [recorder, 5])).toBe(5);
    expect(await kernel.call(recorder, 'count')).toBe(55);
    kernel.close();
  });

  it('gives a vat the resolutions queued for it one after another in one notify delivery, at most 64 at a time', async () => {
    const { kernel } = await startTestKernel();
    await kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    await kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    const before = kernel.stats.deliveries;
    // 100 sends with results in one delivery: 100 receives queue 100 notifies to the sender, one after another.
    expect(await kernel.call(kernel.rootOf('sender'), 'sendBatch', [kernel.rootOf('recorder'), 100, 100])).toBe(100);
    // 1 sendBatch + 100 receives + 2 notifies (64 + 36).
    expect(kernel.stats.deliveries - before).toBe(103);
    expect(await kernel.call(kernel.rootOf('recorder'), 'entries')).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    kernel.close();
  });

  it('settles a host result only after the COMMIT that holds it', async () => {
    const { kernel, store } = await startTestKernel({ commit: { maxCranks: 1000, maxDelayMs: 60_000 } });
    await kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    await kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    const commitsBefore = kernel.stats.commits;
    let seenAtSettlement: { commits: number; uncommitted: boolean; cranks: number } | undefined;
    // The result is decided by the first delivery; 20 more cranks follow in the same group (20 receives; the 20 results come back to the sender in one notify).
    const result = kernel
      .queueToKref(kernel.rootOf('sender'), 'sendBatch', [kernel.rootOf('recorder'), 20, 20])
      .then((value) => {
        seenAtSettlement = { commits: kernel.stats.commits, uncommitted: store.tx.uncommitted, cranks: kernel.stats.cranks };
        return value;
      });
    const cranks = await kernel.run();
    expect(await result).toBe(20);
    expect(cranks).toBeGreaterThan(20);
    expect(seenAtSettlement).toEqual({ commits: commitsBefore + 1, uncommitted: false, cranks: kernel.stats.cranks });
    kernel.close();
  });

  it('rejects the result of a method that throws, and the vat goes on', async () => {
    const { kernel } = await startTestKernel();
    await kernel.createVat({ name: 'faulty', bundle: await testVat('faulty') });
    const faulty = kernel.rootOf('faulty');
    await expect(kernel.call(faulty, 'throwError', ['boom'])).rejects.toThrow('boom');
    expect(await kernel.call(faulty, 'writes')).toBe(0);
    expect(kernel.stats.abortedCranks).toBe(0);
    kernel.close();
  });

  it('rejects sends to a vat root that does not have the method', async () => {
    const { kernel, recorder } = await twoVats();
    await expect(kernel.call(recorder, 'noSuchMethod')).rejects.toThrow(/noSuchMethod/);
    kernel.close();
  });

  it('refuses a second vat with the same name and a vat whose start fails', async () => {
    const { kernel } = await twoVats();
    await expect(kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') })).rejects.toThrow(
      /already exists/,
    );
    await expect(kernel.createVat({ name: 'broken', bundle: await testVat('brokenStart') })).rejects.toThrow(
      /failed to start: .*no root for you/,
    );
    expect(kernel.stats.abortedCranks).toBe(1);
    // The failed start left nothing behind: a good vat may take the name.
    await kernel.createVat({ name: 'broken', bundle: await exampleVat('recorder') });
    expect(await kernel.call(kernel.rootOf('broken'), 'count')).toBe(0);
    kernel.close();
  });
});

describe('kernel: promises', () => {
  it('queues sends to an unresolved promise and delivers them once it resolves to an object', async () => {
    const { kernel, store } = await startTestKernel();
    await kernel.createVat({ name: 'a', bundle: await testVat('durable') });
    await kernel.createVat({ name: 'b', bundle: await testVat('durable') });
    const a = kernel.rootOf('a');
    const b = kernel.rootOf('b');
    let queuedOnPromise = 0;
    const pipelined = kernel.queueToKref(a, 'pipelineIncrement', [b, 'piped']);
    // Crank by crank, watch for the message waiting on its target promise.
    for (let crank = 0; crank < 20; crank += 1) {
      if ((await kernel.run({ maxCranks: 1 })) === 0) break;
      queuedOnPromise = Math.max(queuedOnPromise, (store.dump().promise_queue ?? []).length);
    }
    expect(queuedOnPromise).toBe(1);
    expect(await pipelined).toBe(1);
    expect(store.dump().promise_queue).toEqual([]);
    expect(await kernel.call(await kernel.call(b, 'counter', ['piped']) as object, 'value')).toBe(1);
    kernel.close();
  });

  it('rejects a send to a promise fulfilled with data', async () => {
    const { kernel } = await startTestKernel();
    await kernel.createVat({ name: 'a', bundle: await testVat('durable') });
    await kernel.createVat({ name: 'b', bundle: await testVat('durable') });
    await expect(kernel.call(kernel.rootOf('a'), 'sendToData', [kernel.rootOf('b')])).rejects.toThrow(
      /fulfilled with data, not an object/,
    );
    kernel.close();
  });
});

describe('kernel: a failed crank leaves no trace (G1)', () => {
  it('rolls back vatstore writes, sends, subscriptions and resolutions, byte for byte', async () => {
    let atAbort: Record<string, unknown[]> | undefined;
    const test = await startTestKernel({
      observer: { crankAborted: () => void (atAbort = test.store.dump()) },
    });
    const { kernel, store, logger } = test;
    await kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    await kernel.createVat({ name: 'faulty', bundle: await testVat('faulty') });
    const faulty = kernel.rootOf('faulty');
    const recorder = kernel.rootOf('recorder');
    const held = kernel.queueToKref(faulty, 'hold');
    await kernel.run();

    const failing = kernel.queueToKref(faulty, 'workThenFail', [recorder]);
    await kernel.run({ maxCranks: 0 }); // applies the input and commits it, delivers nothing
    const before = store.dump();
    await kernel.run();

    expect(atAbort).toBeDefined();
    expect(atAbort).toEqual(before);
    await expect(failing).rejects.toThrow(/terminated: it exited with failure: failing on purpose/);
    // The resolution made by the failed crank never happened: the vat's end rejected the promise.
    await expect(held).rejects.toThrow(/terminated/);
    // Its sends were never delivered.
    expect(await kernel.call(recorder, 'count')).toBe(0);
    expect(logger.entries.some((entry) => entry.message === 'vat terminated')).toBe(true);
    kernel.close();
  });
});

describe('kernel: a faulty vat fails and keeps its state, the others go on', () => {
  it('fails a vat that makes an illegal syscall: what it decided is rejected, its state kept, and a restart brings it back', async () => {
    const directory = mkdtempSync(path.join(tmpdir(), 'ken-kernel-'));
    const file = path.join(directory, 'kernel.sqlite');
    const { kernel, store, logger } = await startTestKernel({ path: file });
    await kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    await kernel.createVat({ name: 'faulty', bundle: await testVat('faulty') });
    const faulty = kernel.rootOf('faulty');
    const recorder = kernel.rootOf('recorder');
    await kernel.call(faulty, 'remember', [recorder]);
    expect(await kernel.call(faulty, 'sendToRemembered', [1])).toBe(1);
    const held = kernel.queueToKref(faulty, 'hold');
    await kernel.run();

    // Corrupt the vat's c-list (as a kernel bug or a forged ref would): the
    // vat's next send names an import the kernel no longer knows.
    const faultyId = store.vats.getByName('faulty')?.vatId;
    const recorderKref = krefOf(recorder);
    expect(faultyId).toBeDefined();
    expect(recorderKref).toBeDefined();
    store.tx.beginCrank();
    store.clist.delete(faultyId!, recorderKref!);
    store.tx.endCrank();

    const vatstoreBefore = store.dump().vatstore?.filter((row) => (row as { vat_id: string }).vat_id === faultyId);
    await expect(kernel.call(faulty, 'sendToRemembered', [2])).rejects.toThrow(/failed while handling this message: illegal syscall: syscall.send/);
    await expect(held).rejects.toThrow(/failed \(illegal syscall/);
    await expect(kernel.call(faulty, 'writes')).rejects.toThrow(/is failed: illegal syscall.*restarted at the next start/);
    expect(store.vats.getByName('faulty')).toMatchObject({ state: 'failed', reason: expect.stringContaining('not in its c-list') });
    expect(store.dump().vatstore?.filter((row) => (row as { vat_id: string }).vat_id === faultyId)).toEqual(vatstoreBefore);
    expect(await kernel.call(recorder, 'count')).toBe(1);
    expect(logger.entries.find((entry) => entry.message?.startsWith('vat failed'))?.object).toMatchObject({ vatId: faultyId });
    kernel.close();

    const again = await startTestKernel({ path: file });
    try {
      expect(again.store.vats.getByName('faulty')?.state).toBe('live');
      expect(await again.kernel.call(again.kernel.rootOf('faulty'), 'writes')).toBe(0);
      expect(again.logger.entries.some((entry) => entry.message === 'failed vat restarted')).toBe(true);
    } finally {
      again.kernel.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('terminates a vat that exits, keeping the exiting crank', async () => {
    const { kernel, store } = await startTestKernel();
    await kernel.createVat({ name: 'faulty', bundle: await testVat('faulty') });
    const faulty = kernel.rootOf('faulty');
    expect(await kernel.call(faulty, 'exit', ['done'])).toBe('exiting');
    expect(store.vats.getByName('faulty')).toMatchObject({ state: 'terminated', reason: 'it exited: "done"' });
    await expect(kernel.call(faulty, 'writes')).rejects.toThrow(/terminated: it exited/);
    kernel.close();
  });
});

describe('kernel: group commit', () => {
  it('runs onCommit hooks after each COMMIT, with nothing left uncommitted, and tells the observer each duration', async () => {
    const durations: bigint[] = [];
    const { kernel, store } = await startTestKernel({
      commit: { maxCranks: 3, maxDelayMs: 60_000 },
      observer: { committed: (ns) => void durations.push(ns) },
    });
    await kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    await kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    const seen: { commits: number; uncommitted: boolean }[] = [];
    kernel.onCommit(() => {
      seen.push({ commits: kernel.stats.commits, uncommitted: store.tx.uncommitted });
      return {};
    });
    const before = kernel.stats.commits;
    await kernel.call(kernel.rootOf('sender'), 'sendBatch', [kernel.rootOf('recorder'), 5, 5]);
    const commits = kernel.stats.commits - before;
    // 1 input + 1 sendBatch + 5 receives + 1 notify of the 5 results = 8 cranks: 3 commits (3, 3, 2).
    expect(commits).toBe(3);
    expect(seen).toEqual(Array.from({ length: commits }, (_, i) => ({ commits: before + i + 1, uncommitted: false })));
    expect(durations).toHaveLength(kernel.stats.commits);
    expect(durations.reduce((sum, ns) => sum + ns, 0n)).toBe(kernel.stats.commitNs);
    kernel.close();
  });

  it('commits once per crank in strict mode and fewer times in group mode, with the same result', async () => {
    const results: Record<string, { commits: number; entries: unknown }> = {};
    for (const [mode, commit] of [
      ['strict', { maxCranks: 1, maxDelayMs: 0 }],
      ['group', { maxCranks: 1000, maxDelayMs: 60_000 }],
    ] as const) {
      const { kernel } = await startTestKernel({ commit });
      await kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
      await kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
      const before = kernel.stats.commits;
      await kernel.call(kernel.rootOf('sender'), 'sendBatch', [kernel.rootOf('recorder'), 20, 20]);
      const cranks = kernel.stats.cranks;
      results[mode] = {
        commits: kernel.stats.commits - before,
        entries: await kernel.call(kernel.rootOf('recorder'), 'entries'),
      };
      if (mode === 'strict') expect(results[mode].commits).toBeGreaterThanOrEqual(cranks - 10);
      kernel.close();
    }
    expect(results.group?.commits).toBe(1);
    expect(results.group?.entries).toEqual(range(1, 20));
    expect(results.strict?.entries).toEqual(range(1, 20));
  });

  /** A kernel with the workload's vats whose commit policy reads `clock.t` (milliseconds). */
  async function kernelWithClock(commit: { maxCranks: number; maxDelayMs: number }) {
    const clock = { ...systemClock, t: 0, now: () => clock.t };
    const test = await startTestKernel({ commit, clock });
    await test.kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
    await test.kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
    return { ...test, clock, sender: krefOf(test.kernel.rootOf('sender'))!, recorder: test.kernel.rootOf('recorder') };
  }

  /** External work (a peer's frames, in a node) that notes when it ran. */
  const noting = (kernel: Kernel, seen: { deliveries?: number; commits?: number }): ExternalWork => ({
    apply: () => {
      seen.deliveries = kernel.stats.deliveries;
      seen.commits = kernel.stats.commits;
    },
  });

  it('takes external work queued while the run queue holds work after it, and in the next group once the group is half its delay limit old', async () => {
    const { kernel, clock, sender, recorder } = await kernelWithClock({ maxCranks: 1000, maxDelayMs: 60_000 });
    const commits = kernel.stats.commits;
    const late: { deliveries?: number; commits?: number } = {};
    // A first delivery opens the group at 0 ms; then external work, 40 s on, queues a batch and more external work.
    void kernel.queueToKref(recorder, 'count');
    kernel.queueExternal({
      apply: (context) => {
        clock.t = 40_000;
        const message = { methargs: encode(['sendBatch', [recorder, 5, 5]]), result: null };
        context.store.queues.enqueueSend(sender, message);
        context.refs.increfMessage(message, sender);
        kernel.queueExternal(noting(kernel, late));
      },
    });
    await kernel.run();
    // The batch's deliveries (sendBatch, 5 receives, the notify of their results) all came first, in the first group; it ran in a group of its own.
    expect(late).toEqual({ deliveries: kernel.stats.deliveries, commits: commits + 1 });
    kernel.close();
  });

  it('keeps external work waiting for at most one group, however long the run queue', async () => {
    const { kernel, sender, recorder } = await kernelWithClock({ maxCranks: 4, maxDelayMs: 60_000 });
    const commits = kernel.stats.commits;
    const deliveries = kernel.stats.deliveries;
    const waiting: { deliveries?: number; commits?: number } = {};
    const sent = kernel.queueToKref(sender, 'sendBatch', [recorder, 20, 20]);
    kernel.queueExternal(noting(kernel, waiting));
    await kernel.run();
    expect(await sent).toBe(20);
    // The input, sendBatch and two receives made the first group (4 cranks); the external work began the second.
    expect(waiting).toEqual({ deliveries: deliveries + 3, commits: commits + 1 });
    kernel.close();
  });
});

describe('kernel: halt', () => {
  it('stops after the crank in progress with it committed; later runs do nothing; the rest runs after a restart', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ken-halt-'));
    try {
      const storePath = path.join(dir, 'kernel.sqlite');
      const { kernel, store } = await startTestKernel({ path: storePath, commit: { maxCranks: 1000, maxDelayMs: 60_000 } });
      await kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
      await kernel.createVat({ name: 'sender', bundle: await exampleVat('sender') });
      // sendBatch queues 50 receives: halt once the 10th crank is under way.
      void kernel.queueToKref(kernel.rootOf('sender'), 'sendBatch', [kernel.rootOf('recorder'), 50, 50]);
      const cranksBefore = kernel.stats.cranks;
      let halted: Promise<void> | undefined;
      const running = kernel.run();
      for (let turn = 0; turn < 100_000 && halted === undefined; turn += 1) {
        await new Promise((resolve) => setImmediate(resolve));
        if (kernel.stats.cranks - cranksBefore >= 10) halted = kernel.halt();
      }
      expect(halted).toBeDefined();
      await halted;
      const cranks = await running;
      expect(store.tx.uncommitted).toBe(false);
      expect(kernel.runQueueLength).toBeGreaterThan(0);
      expect(await kernel.run()).toBe(0);
      expect(kernel.stats.cranks - cranksBefore).toBe(cranks);
      kernel.close();

      const restarted = await startTestKernel({ path: storePath });
      await restarted.kernel.run();
      expect(await restarted.kernel.call(restarted.kernel.rootOf('recorder'), 'entries')).toEqual(range(1, 50));
      restarted.kernel.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kernel: a group whose cranks write nothing', () => {
  /** A crank that releases one action, writing one row or (as a hello that changes no row) nothing. */
  const crankReleasing = (kernel: Awaited<ReturnType<typeof startTestKernel>>['kernel'], onRelease: () => void, write = false) =>
    kernel.runInCrank<void>((context, done) => {
      if (write) context.store.vatstore.set('v1', 'test.key', 'value');
      context.buffer.postCommit.push(() => {
        onRelease();
        done();
      });
    });

  /** Before the fix the release waited for a COMMIT that never came: a bound, not a timing. */
  const releasedOrStuck = (crank: Promise<unknown>) =>
    Promise.race([crank.then(() => 'released'), new Promise((resolve) => setTimeout(resolve, 5_000, 'stuck'))]);

  it('releases what its cranks released, with no COMMIT', async () => {
    const { kernel } = await startTestKernel();
    const commits = kernel.stats.commits;
    let released = false;
    const crank = crankReleasing(kernel, () => (released = true));
    expect(await releasedOrStuck(crank)).toBe('released');
    expect(released).toBe(true);
    expect(kernel.stats.commits).toBe(commits);
    kernel.close();
  });

  it('in fsync mode, releases it after what the COMMITs before it released, once they are on disk', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ken-writefree-'));
    const held: (() => void)[] = [];
    let holding = false;
    const fdatasync: FdatasyncFn = (fd, done) => {
      if (holding) held.push(() => fs.fdatasync(fd, done));
      else fs.fdatasync(fd, done);
    };
    try {
      const { kernel } = await startTestKernel({ path: path.join(dir, 'kernel.sqlite'), durability: 'fsync', disk: { fdatasync } });
      await kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
      holding = true;
      const order: string[] = [];
      const written = crankReleasing(kernel, () => order.push('written'), true);
      await kernel.run();
      const writeFreeDone = crankReleasing(kernel, () => order.push('write-free'));
      await kernel.run();
      for (let turn = 0; turn < 20; turn += 1) await new Promise((resolve) => setImmediate(resolve));
      expect(order).toEqual([]); // the COMMIT before is not on disk yet
      expect(held).toHaveLength(1);
      holding = false;
      held.splice(0).forEach((flush) => flush());
      expect(await releasedOrStuck(Promise.all([written, writeFreeDone]))).toBe('released');
      expect(order).toEqual(['written', 'write-free']);
      kernel.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kernel: fsync durability, the flush that ends a run', () => {
  it('is made in the kernel\'s thread when nothing more is to run: once run() settles, nothing waits for the disk, and the result has settled', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ken-idle-flush-'));
    try {
      const { kernel, store } = await startTestKernel({ path: path.join(dir, 'kernel.sqlite'), durability: 'fsync' });
      await kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
      for (let round = 1; round <= 5; round += 1) {
        let settled = false;
        void kernel.queueToKref(kernel.rootOf('recorder'), 'receive', [round]).then(() => (settled = true));
        await kernel.run();
        // A flush in the thread pool would still be in flight here, and the result waiting for it.
        expect(store.walSync?.pending).toBe(0);
        await Promise.resolve();
        expect(settled).toBe(true);
      }
      kernel.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kernel: fsync durability, a failed flush of the WAL', () => {
  it('stops the kernel on a storage error; nothing the COMMITs it covered released settles, and later calls are refused', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ken-flush-'));
    let failing = false;
    const fdatasync: FdatasyncFn = (fd, done) => {
      if (!failing) return fs.fdatasync(fd, done);
      setImmediate(() => done(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })));
    };
    const stopped: unknown[] = [];
    try {
      const { kernel, logger } = await startTestKernel({ path: path.join(dir, 'kernel.sqlite'), durability: 'fsync', disk: { fdatasync }, observer: { stopped: (error) => void stopped.push(error) } });
      await kernel.createVat({ name: 'recorder', bundle: await exampleVat('recorder') });
      expect(await kernel.call(kernel.rootOf('recorder'), 'count')).toBe(0);
      failing = true;
      let settled = false;
      void kernel.queueToKref(kernel.rootOf('recorder'), 'receive', [1]).finally(() => (settled = true)).catch(() => {});
      await kernel.run();
      for (let turn = 0; turn < 100 && stopped.length === 0; turn += 1) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(stopped).toHaveLength(1);
      expect(stopped[0]).toBeInstanceOf(StorageError);
      expect((stopped[0] as StorageError).code).toBe('EIO');
      expect(settled).toBe(false);
      expect(logger.entries.some((entry) => entry.message?.startsWith('storage error: the kernel stopped') === true)).toBe(true);
      await expect(kernel.call(kernel.rootOf('recorder'), 'count')).rejects.toThrow(StorageError);
      kernel.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
