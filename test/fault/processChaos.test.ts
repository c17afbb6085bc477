import { afterEach, describe, expect, it } from 'vitest';
import { runProcessChaos } from '../../src/chaos/runner.js';
import { testSeed } from '../../src/util/random.js';
import { tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

describe('real-process chaos (ken-node chaos)', () => {
  it('three node processes over TCP, SIGKILLed and cut off at random, consume every message exactly once', async () => {
    const seed = testSeed();
    console.log(`process chaos seed ${seed} (replay the fault schedule: KEN_SEED=${seed})`);
    const lines: string[] = [];
    const report = await runProcessChaos({
      nodes: 3,
      messages: 180,
      seed,
      killEveryMs: 800,
      minKills: 2,
      armedShare: 0.3,
      label: 'chaos',
      transport: 'tcp',
      partitionRate: 0.5,
      dropRate: 0.5,
      durability: 'fsync',
      runDir: dirs.make('ken-process-chaos-'),
      drainTimeoutMs: 60_000,
      maxChaosMs: 90_000,
      progress: (line) => lines.push(line),
    });
    const summary = `seed ${seed}: ${JSON.stringify({ ...report, violations: report.violations.length })}`;
    expect(report.violations, `${summary}\n${lines.join('\n')}`).toEqual([]);
    expect(report.verdict).toBe('exactly-once');
    // The faults happened: the run is not a quiet one that proves nothing.
    expect(report.kills, summary).toBeGreaterThanOrEqual(2);
    expect(report.drainMs, summary).toBeDefined();
    // Killed nodes came back: the runner saw a restarted process run.
    expect(report.recoveries.length, summary).toBeGreaterThan(0);
  }, 240_000);
});
