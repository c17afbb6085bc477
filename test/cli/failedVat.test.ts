import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/packageRoot.js';
import { tempDirs } from '../support/nodes.js';
import { ask, nodeProcesses, readStore, sample } from '../support/nodeCli.js';

const dirs = tempDirs();
const nodes = nodeProcesses();
afterEach(() => {
  nodes.killAll();
  dirs.cleanup();
});

const vat = (name: string) => path.join(packageRoot, 'test', 'vats', name);

/** The bootstrap vat's (v1's) vatstore rows, read from the store file of a stopped node. */
const vatstoreRows = (dir: string): number =>
  readStore(dir, (db) => (db.prepare("SELECT COUNT(*) AS n FROM vatstore WHERE vat_id = 'v1'").get() as { n: number }).n);

/** A node whose bootstrap vat (notes with the init-twice bug) stored 20 notes, then stopped; and the vatstore rows that makes. */
async function nodeWithNotes(): Promise<{ dir: string; rows: number }> {
  const dir = path.join(dirs.make('ken-failed-vat-'), 'node');
  expect((await nodes.init(dir, { bootstrap: vat('notesInitTwice.js') })).code).toBe(0);
  const first = await nodes.start(dir);
  expect(await ask(dir, 'POST', '/call', { method: 'add', args: [20] })).toEqual({ result: 20 });
  first.child.kill('SIGTERM');
  expect(await first.exited).toMatchObject({ code: 0 });
  const rows = vatstoreRows(dir);
  expect(rows).toBeGreaterThan(20);
  return { dir, rows };
}

/** Starts the node on `dir`: its bootstrap vat fails to restart, and the node says so and serves. */
async function startWithFailedVat(dir: string) {
  const running = await nodes.start(dir);
  const vats = JSON.parse((await nodes.run(['vats', '--data-dir', dir])).stdout) as { name: string; state: string; reason: string }[];
  expect(vats).toEqual([expect.objectContaining({ name: 'bootstrap', state: 'failed', reason: expect.stringContaining('restart failed: delivery failed: key (a string) already registered in collection "baggage"') })]);
  return running;
}

describe('a vat whose restart fails, two node processes', () => {
  it('is marked failed with its data kept, shown in vats, status and metrics; a corrected bundle brings it back with its data', async () => {
    const { dir, rows } = await nodeWithNotes();
    const failed = await startWithFailedVat(dir);
    const call = await nodes.run(['call', '--data-dir', dir, 'count']);
    expect(call.code).toBe(1);
    expect(call.stderr).toMatch(/is failed: .*restarted at the next start/);
    expect(sample((await ask(dir, 'GET', '/metrics')) as string, 'ken_vats', { state: 'failed' })).toBe(1);
    const live = await nodes.run(['vats', '--data-dir', dir, '--terminate', 'nobody']);
    expect(live.code).toBe(1);
    expect(live.stderr).toContain('no vat named "nobody"');
    failed.child.kill('SIGTERM');
    expect(await failed.exited).toMatchObject({ code: 0 });
    expect(vatstoreRows(dir)).toBe(rows);

    // Every start tries it again: still failed, still keeping its data.
    const again = await startWithFailedVat(dir);
    expect(vatstoreRows(dir)).toBe(rows);

    // The fix: the corrected source, as an upgrade of the failed vat, on its kept data; it is live at once.
    const fixed = await nodes.run(['vat', 'upgrade', 'bootstrap', '--source', vat('notes.js'), '--data-dir', dir]);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ name: 'bootstrap', state: 'live', reason: null });
    expect(await ask(dir, 'POST', '/call', { method: 'count' })).toEqual({ result: 20 });
    expect(await ask(dir, 'POST', '/call', { method: 'add', args: [1] })).toEqual({ result: 21 });
    // Without --yes, terminate only says what it would delete.
    const unconfirmed = await nodes.run(['vat', 'terminate', 'bootstrap', '--data-dir', dir]);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/terminating vat "bootstrap" \(v1, live\) would delete for good: its \d+ vatstore entries/);
    expect(unconfirmed.stderr).toContain('nothing was done: run again with --yes');
    again.child.kill('SIGTERM');
    expect(await again.exited).toMatchObject({ code: 0 });
    expect(vatstoreRows(dir)).toBeGreaterThan(rows);
  }, 180_000);

  it('is terminated, and its state deleted, only when the operator says so', async () => {
    const { dir } = await nodeWithNotes();
    const running = await startWithFailedVat(dir);
    const terminated = await nodes.run(['vats', '--data-dir', dir, '--terminate', 'bootstrap']);
    expect(terminated.code, terminated.stderr).toBe(0);
    expect(JSON.parse(terminated.stdout)).toMatchObject({ name: 'bootstrap', state: 'terminated', reason: 'terminated by the operator' });
    const call = await nodes.run(['call', '--data-dir', dir, 'count']);
    expect(call.code).toBe(1);
    expect(call.stderr).toContain('was terminated: terminated by the operator');
    running.child.kill('SIGTERM');
    expect(await running.exited).toMatchObject({ code: 0 });
    expect(vatstoreRows(dir)).toBe(0);
  }, 180_000);
});
