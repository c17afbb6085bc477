import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { historyFor, type Violation } from '../fault/checker.js';
import type { CrashPointName } from '../fault/crashPoints.js';
import type { FaultEvent } from '../net/faultyTransport.js';
import { Simulation, type SimulationOptions, type SimulationResult, type StoreFault } from './simulation.js';

/** What a sweep of seeds found, summed. */
export interface SweepSummary {
  seeds: number;
  messages: number;
  faults: Record<FaultEvent['kind'], number>;
  kills: number;
  crashes: Partial<Record<CrashPointName, number>>;
  restarts: number;
  /** Stores put back to an older copy (`rollback`), or restored as a new incarnation (`amnesia`). */
  storeFaults: Record<StoreFault, number>;
  /** Party upgrades answered: done, or refused (code that cannot start) with the previous version running on. */
  upgrades: { done: number; refused: number };
  /** Wake-ups of later sends that came. */
  wakeUps: number;
  /** Each seed that broke a guarantee, with its violations and the history lines to read them by. */
  failures: { seed: number; violations: { violation: Violation; history: string[] }[] }[];
}

export function emptySummary(): SweepSummary {
  return {
    seeds: 0,
    messages: 0,
    faults: { drop: 0, duplicate: 0, delay: 0, reset: 0, partition: 0, heal: 0, blocked: 0 },
    kills: 0,
    crashes: {},
    restarts: 0,
    storeFaults: { rollback: 0, amnesia: 0 },
    upgrades: { done: 0, refused: 0 },
    wakeUps: 0,
    failures: [],
  };
}

/** Adds one run to a summary. */
export function addToSummary(summary: SweepSummary, result: SimulationResult): void {
  summary.seeds += 1;
  summary.messages += result.counts.messages;
  for (const [kind, count] of Object.entries(result.counts.faults)) summary.faults[kind as FaultEvent['kind']] += count;
  summary.kills += result.counts.kills;
  summary.restarts += result.counts.restarts;
  for (const [fault, count] of Object.entries(result.counts.storeFaults)) summary.storeFaults[fault as StoreFault] += count;
  summary.upgrades.done += result.counts.upgrades.done;
  summary.upgrades.refused += result.counts.upgrades.refused;
  summary.wakeUps += result.counts.wakeUps;
  for (const [point, count] of Object.entries(result.counts.crashes)) {
    summary.crashes[point as CrashPointName] = (summary.crashes[point as CrashPointName] ?? 0) + count;
  }
  if (result.violations.length > 0) {
    summary.failures.push({
      seed: result.seed,
      violations: result.violations.map((violation) => ({ violation, history: historyFor(violation, result.history) })),
    });
  }
}

export type SweepSettings = Omit<SimulationOptions, 'dir' | 'seed'>;

/**
 * The workload of the mixed sweep (`npm test`), drawn from the seed alone
 * (three bits of a hash of it, so that any run of seeds, every other one
 * included, gets every kind): half the seeds run liveslots parties sending
 * with E(), a quarter lean parties with E(), a quarter send-only traffic
 * (lean and liveslots in turn). `ken-node chaos --simulate --mixed` uses it too.
 */
export function mixedWorkloadOf(seed: number): Pick<SimulationOptions, 'runtime' | 'sendOnly'> {
  switch (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 29) {
    case 1:
    case 5:
      return { runtime: 'lean', sendOnly: false };
    case 3:
      return { runtime: 'lean', sendOnly: true };
    case 7:
      return { runtime: 'liveslots', sendOnly: true };
    default:
      return { runtime: 'liveslots', sendOnly: false };
  }
}

/** The flags of `ken-node chaos --simulate` that give a run this workload. */
export function workloadFlags(workload: Pick<SimulationOptions, 'runtime' | 'sendOnly'>): string {
  return `${workload.runtime === 'lean' ? ' --runtime lean' : ''}${workload.sendOnly === true ? ' --send-only' : ''}`;
}

/** Runs one simulation in a directory of its own under `tempRoot`, removed afterwards. */
export async function simulateSeed(tempRoot: string, options: Omit<SimulationOptions, 'dir'>): Promise<SimulationResult> {
  const dir = mkdtempSync(path.join(tempRoot, `sim-${options.seed}-`));
  try {
    return await new Simulation({ ...options, dir }).run();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs every seed in `seeds` with the same settings, or the settings `options` gives for the seed; `onRun` hears each result as it comes. */
export async function sweep(
  tempRoot: string,
  seeds: Iterable<number>,
  options: SweepSettings | ((seed: number) => SweepSettings),
  onRun?: (result: SimulationResult, summary: SweepSummary) => void,
): Promise<SweepSummary> {
  const summary = emptySummary();
  for (const seed of seeds) {
    const result = await simulateSeed(tempRoot, { ...(typeof options === 'function' ? options(seed) : options), seed });
    addToSummary(summary, result);
    onRun?.(result, summary);
  }
  return summary;
}

/** A sweep's figures on one line. */
export function describeSummary(summary: SweepSummary): string {
  const faults = Object.entries(summary.faults).map(([kind, count]) => `${kind} ${count}`).join(', ');
  const crashes = Object.entries(summary.crashes).map(([point, count]) => `${point} ${count}`).join(', ');
  return (
    `${summary.seeds} seeds, ${summary.messages} messages, faults: ${faults}; kills ${summary.kills}; ` +
    `crashes: ${crashes || 'none'}; restarts ${summary.restarts}; ` +
    `store faults: rollback ${summary.storeFaults.rollback}, amnesia ${summary.storeFaults.amnesia}; ` +
    `upgrades: done ${summary.upgrades.done}, refused ${summary.upgrades.refused}; wake-ups ${summary.wakeUps}; seeds with violations: ${summary.failures.length}`
  );
}
