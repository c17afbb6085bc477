import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { crashPointNames } from '../../src/fault/crashPoints.js';
import { testSeed } from '../../src/util/random.js';
import { describeSummary, mixedWorkloadOf, sweep, workloadFlags } from '../../src/sim/sweep.js';

/** Seeds in the whole sweep of `npm test`, split over files so both cores work. */
export const sweepSeeds = 400;

/**
 * Runs part `part` of `parts` of the seeded sweep: seeds base + k for the
 * k in that part. The base is printed; KEN_SEED replays the same sweep.
 */
export async function runSweepPart(part: number, parts: number): Promise<void> {
  const base = testSeed();
  const seeds = Array.from({ length: sweepSeeds / parts }, (_, index) => base + part + index * parts);
  console.log(
    `simulation sweep part ${part + 1}/${parts}: seeds ${base}+${part}, step ${parts} ` +
      `(replay: KEN_SEED=${base} npx vitest run test/sim; one seed: npx ken-node chaos --simulate --mixed --nodes 3 --messages 30 --seed <seed>)`,
  );
  const root = mkdtempSync(path.join(tmpdir(), 'ken-sweep-'));
  try {
    // Each seed's workload (runtime, send-only) comes from the seed: mixedWorkloadOf.
    const summary = await sweep(root, seeds, (seed) => ({ nodes: 3, messages: 30, ...mixedWorkloadOf(seed) }));
    console.log(describeSummary(summary));
    const kinds = seeds.map((seed) => workloadFlags(mixedWorkloadOf(seed)) || ' liveslots');
    console.log(`workloads: ${[...new Set(kinds)].map((kind) => `${kind.trim()} ${kinds.filter((k) => k === kind).length}`).join(', ')}`);
    for (const failure of summary.failures) {
      const replay = `npx ken-node chaos --simulate --nodes 3 --messages 30 --seed ${failure.seed}${workloadFlags(mixedWorkloadOf(failure.seed))}`;
      for (const { violation, history } of failure.violations) {
        console.log(`seed ${failure.seed} (${replay}): ${violation.guarantee} ${violation.message}\n  ${history.join('\n  ')}`);
      }
    }
    expect(summary.failures.map((failure) => failure.seed)).toEqual([]);
    expect(summary.seeds).toBe(seeds.length);
    // The sweep must have exercised every fault and every crash point.
    for (const kind of ['drop', 'duplicate', 'delay', 'reset', 'partition', 'blocked'] as const) {
      expect(summary.faults[kind], kind).toBeGreaterThan(0);
    }
    for (const point of crashPointNames) {
      expect(summary.crashes[point], point).toBeGreaterThan(0);
    }
    expect(summary.kills).toBeGreaterThan(0);
    expect(summary.storeFaults.rollback, 'rollback').toBeGreaterThan(0);
    expect(summary.storeFaults.amnesia, 'amnesia').toBeGreaterThan(0);
    // ... and timers and upgrades, good and refused.
    expect(summary.wakeUps, 'wake-ups').toBeGreaterThan(0);
    expect(summary.upgrades.done, 'upgrades done').toBeGreaterThan(0);
    expect(summary.upgrades.refused, 'upgrades refused').toBeGreaterThan(0);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
