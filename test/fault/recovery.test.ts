import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Durability } from '../../src/store/index.js';
import { verifyWorkload } from '../../src/workload/localWorkload.js';
import { exitOf, spawnCli } from '../support/cli.js';
import { startTestKernel } from '../support/harness.js';
import { seededRandom, testSeed } from '../../src/util/random.js';

const messages = 5000;
const kills = 5;
const directories: string[] = [];
afterEach(() => directories.splice(0).forEach((directory) => rmSync(directory, { recursive: true, force: true })));

/**
 * A real node process runs the local workload; the test SIGKILLs it at
 * seeded random instants and restarts it on the same store each time. The
 * seed fixes the kill schedule (how long after each start); where in the
 * workload a kill lands also depends on the machine's speed.
 */
describe.each<Durability>(['fsync', 'process'])('recovery from SIGKILL (durability %s)', (durability) => {
  it(`consumes all ${messages} messages exactly once, in order, across ${kills} kills`, async () => {
    const seed = testSeed();
    console.log(`recovery ${durability}: seed ${seed} (replay: KEN_SEED=${seed} npx vitest run test/fault/recovery.test.ts)`);
    const random = seededRandom(seed);
    const dataDir = mkdtempSync(path.join(tmpdir(), `ken-recovery-${durability}-`));
    directories.push(dataDir);
    const args = ['demo', '--data-dir', dataDir, '--messages', String(messages), '--batch', '50', '--progress', '50'];
    args.push('--durability', durability, '--json');

    // The schedule: the first kill lands while the child starts up and restarts
    // its vats; each later one once the workload has passed a seeded point,
    // plus a seeded delay so it can fall anywhere in a crank or a commit.
    const killPoints = Array.from({ length: kills - 1 }, () => Math.floor(random() * (messages - 1100)) + 50).sort(
      (a, b) => a - b,
    );
    for (let kill = 1; kill <= kills; kill += 1) {
      const child = spawnCli(args);
      const exited = exitOf(child);
      const point = kill === 1 ? undefined : killPoints[kill - 2];
      const delayMs = Math.round(random() * (point === undefined ? 600 : 40));
      let armed = false;
      let timer: NodeJS.Timeout | undefined;
      child.stderr?.on('data', (chunk: Buffer) => {
        const seen = [...chunk.toString().matchAll(/(\d+)\/\d+ sent and consumed/g)].map((match) => Number(match[1]));
        if (!armed && (point === undefined || seen.some((sent) => sent >= point))) {
          armed = true;
          timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
        }
      });
      const exit = await exited;
      clearTimeout(timer);
      const progress = [...exit.stderr.matchAll(/(\d+)\/\d+ sent and consumed/g)].at(-1)?.[1] ?? 'none';
      const when = point === undefined ? 'after start-up' : `after message ${point}`;
      console.log(`  kill ${kill}: ${delayMs} ms ${when} -> ${exit.signal ?? `exit ${exit.code}`}; last progress ${progress}`);
      expect(exit.signal, `run ${kill} was not killed (seed ${seed}); stderr: ${exit.stderr}`).toBe('SIGKILL');
    }

    const final = await exitOf(spawnCli(args));
    expect(final.code, final.stderr).toBe(0);
    expect(JSON.parse(final.stdout)).toMatchObject({ verdict: 'exactly-once-in-order', consumed: messages });

    // Check the store independently of the child's own verdict.
    const { kernel } = await startTestKernel({ path: path.join(dataDir, 'kernel.sqlite'), durability });
    expect(await verifyWorkload(kernel, messages)).toEqual({ consumed: messages, exactlyOnceInOrder: true });
    expect(await kernel.call(kernel.rootOf('sender'), 'nextSeq')).toBe(messages + 1);
    kernel.close();
  });
});
