import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { crashPointNames, type CrashArming } from '../../src/fault/crashPoints.js';
import { sabotageNames, type Sabotage } from '../../src/fault/sabotage.js';
import { noFaults } from '../../src/net/faultyTransport.js';
import { simulateSeed } from '../../src/sim/sweep.js';
import { testSeed } from '../../src/util/random.js';

const root = mkdtempSync(path.join(tmpdir(), 'ken-sim-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('deterministic simulation', () => {
  it('replays a seed to the same history, byte for byte', async () => {
    const seed = testSeed();
    console.log(`replay: seed ${seed} (KEN_SEED=${seed} npx vitest run test/sim/simulation.test.ts)`);
    const first = await simulateSeed(root, { seed, nodes: 3, messages: 30 });
    const second = await simulateSeed(root, { seed, nodes: 3, messages: 30 });
    expect(second.history).toEqual(first.history);
    expect(second.digest).toBe(first.digest);
    const other = await simulateSeed(root, { seed: seed + 1, nodes: 3, messages: 30 });
    expect(other.digest).not.toBe(first.digest);
  });

  // Every crash point at its 1st, 2nd and 3rd passing, on the sending node
  // (n1) and on the receiving one (n2), with a clean network so the crash
  // is the only fault; the seed still fixes the workload.
  const cases = crashPointNames.flatMap((point) =>
    [1, 2, 3].flatMap((occurrence) => [
      { point, occurrence, role: 'sender', node: 0 },
      { point, occurrence, role: 'receiver', node: 1 },
    ]),
  );
  it(`survives every crash point x occurrence 1..3 on sender and receiver (${cases.length} runs)`, async () => {
    const seed = testSeed();
    console.log(`crash points: seed ${seed} (KEN_SEED=${seed} npx vitest run test/sim/simulation.test.ts)`);
    for (const { point, occurrence, role, node } of cases) {
      const result = await simulateSeed(root, {
        seed,
        nodes: 2,
        messages: 40,
        oneWay: true,
        chaos: false,
        rates: noFaults,
        crash: { node, arming: { point, occurrence } },
      });
      const what = `${point}:${occurrence} on the ${role}`;
      expect(result.counts.crashes[point], `${what} fired`).toBe(1);
      expect(result.violations, what).toEqual([]);
      expect(result.counts.messages, what).toBeGreaterThan(0);
    }
  }, 300_000);
});

describe('the checker can fail', () => {
  // A sabotaged build must be caught on some seed of a short sweep; the
  // seed that caught it is printed, and replays. Each sabotage meets the
  // crash it is wrong about: transmit-before-commit a sender dying half-way
  // through its first crank's flush (rows in the open transaction, already
  // sent, then rolled back with the request that made them);
  // ack-before-commit a receiver dying in its 3rd crank that consumes a
  // message (acked, not committed); lose-outbox-row shows with either, and
  // takes the receiver's.
  // (A crash before any flush, as this test once used for all three, lets
  // transmit-before-commit through on nearly every seed: nothing is routed yet.)
  const exposingCrash = {
    'transmit-before-commit': { node: 0, arming: { point: 'crank-buffer-flush', occurrence: 1 } },
    'ack-before-commit': { node: 1, arming: { point: 'after-receive-before-commit', occurrence: 3 } },
    'lose-outbox-row': { node: 1, arming: { point: 'after-receive-before-commit', occurrence: 3 } },
  } as const satisfies Record<Sabotage, { node: number; arming: CrashArming }>;
  it.each(sabotageNames)('reports the %s sabotage', async (sabotage) => {
    const base = testSeed();
    console.log(`${sabotage}: seeds from ${base} (replay: KEN_SEED=${base} npx vitest run test/sim/simulation.test.ts)`);
    const crash = exposingCrash[sabotage];
    for (let seed = base; seed < base + 100; seed += 1) {
      const result = await simulateSeed(root, { seed, nodes: 2, messages: 30, oneWay: true, crash, sabotage });
      if (result.violations.length > 0) {
        console.log(`${sabotage}: caught at seed ${seed} (base ${base}): ${result.violations[0]?.guarantee} ${result.violations[0]?.message}`);
        return;
      }
    }
    expect.fail(`the checker missed the ${sabotage} sabotage in 100 seeds from ${base}`);
  }, 300_000);
});
