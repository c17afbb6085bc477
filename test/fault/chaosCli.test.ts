import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { testSeed } from '../../src/util/random.js';
import { exitOf, spawnCli } from '../support/cli.js';
import { tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

async function chaos(args: string[]) {
  return exitOf(spawnCli(['chaos', ...args]));
}

describe('ken-node chaos', () => {
  it('--simulate gives a verdict and a report, and the same seed replays the same history', async () => {
    const seed = testSeed();
    console.log(`chaos --simulate seed ${seed}`);
    const dir = dirs.make('ken-chaos-cli-');
    const runs = [];
    for (const name of ['first', 'second']) {
      const report = path.join(dir, `${name}.json`);
      const exit = await chaos(['--simulate', '--nodes', '3', '--messages', '40', '--seed', String(seed), '--report', report]);
      expect(exit.code, exit.stderr).toBe(0);
      expect(exit.stderr).toContain('verdict: exactly-once held');
      const history = /history ([0-9a-f]{16})/.exec(exit.stderr)?.[1];
      expect(history, exit.stderr).toBeDefined();
      runs.push({ history, report: JSON.parse(readFileSync(report, 'utf8')) as { seeds: number; failures: unknown[]; seedRange: unknown } });
    }
    expect(runs[1]?.history).toBe(runs[0]?.history);
    expect(runs[0]?.report).toMatchObject({ seeds: 1, failures: [], seedRange: { from: seed, to: seed } });
  });

  it.each([
    [['--nodes', '1'], '--nodes: expected 2 or more, got 1'],
    [['--seed', '1', '--seeds', '1..3'], 'give --seed or --seeds, not both'],
    [['--seeds', '5..2'], 'expected seeds as A..B with A <= B'],
    [['--kill-every', 'soon'], 'expected a duration like 500ms, 3s, 2m, 1h or 7d'],
    [['--drop-rate', '2'], 'expected a number from 0 to 1'],
    [['--transport', 'udp'], 'expected tcp or ws'],
  ])('refuses %j with a clear error and exit code 2', async (args, message) => {
    const exit = await chaos(['--simulate', ...args]);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain(message);
  });
});
