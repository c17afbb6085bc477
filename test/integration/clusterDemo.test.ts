import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { testSeed } from '../../src/util/random.js';
import { exitOf, spawnCli } from '../support/cli.js';

/** Processes whose command line mentions `text` (pgrep exits 1 when there are none). */
function processesMentioning(text: string): string {
  try {
    return execFileSync('pgrep', ['-af', text], { encoding: 'utf8' });
  } catch {
    return '';
  }
}

describe('ken-node cluster-demo (npm start)', () => {
  it('kills one of three nodes mid-run, gives the exactly-once verdict and a table, and leaves nothing behind', async () => {
    const seed = testSeed();
    console.log(`cluster-demo seed ${seed}`);
    const exit = await exitOf(spawnCli(['cluster-demo', '--messages', '300', '--seed', String(seed)]));
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stderr).toMatch(/demo: SIGKILL n\d/);
    expect(exit.stderr).toMatch(/demo: n\d runs again/);
    expect(exit.stderr).toMatch(/messages +300 sent and checked/);
    expect(exit.stderr).toMatch(/kills +1 \(SIGKILL\)/);
    expect(exit.stderr).toMatch(/violations +0/);
    expect(exit.stderr).toContain('verdict: every message was consumed exactly once');
    const runDir = /run directory (\S+)/.exec(exit.stderr)?.[1];
    expect(runDir, exit.stderr).toBeDefined();
    expect(existsSync(runDir as string)).toBe(false);
    expect(processesMentioning(runDir as string)).toBe('');
  }, 120_000);
});
