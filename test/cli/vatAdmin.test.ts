import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dataDirFiles } from '../../src/config/dataDir.js';
import { packageRoot } from '../../src/util/packageRoot.js';
import type { Exit } from '../support/cli.js';
import { eventually, tempDirs } from '../support/nodes.js';
import { ask, nodeProcesses, readStore, type RunningNode } from '../support/nodeCli.js';

const dirs = tempDirs();
const nodes = nodeProcesses();
afterEach(() => {
  nodes.killAll();
  dirs.cleanup();
});

const vat = (name: string) => path.join(packageRoot, 'test', 'vats', `${name}.js`);

/** The rows of the vat called `name`'s vatstore, read from the store file (committed state; the node may run). */
const vatstoreOf = (dir: string, name: string): unknown[] =>
  readStore(dir, (db) => db.prepare('SELECT key, value FROM vatstore WHERE vat_id = (SELECT vat_id FROM vats WHERE name = ?) ORDER BY key').all(name));

/** How many wake-ups the store of the node on `dir` holds (committed). */
const timersOf = (dir: string): number => readStore(dir, (db) => (db.prepare('SELECT COUNT(*) AS n FROM timers').get() as { n: number }).n);

/** `ken-node ARGS --data-dir dir`: a client command as a process of its own (each costs a second or more: few are run). */
function cli(dir: string, ...args: string[]): Promise<Exit> {
  return nodes.run([...args, '--data-dir', dir]);
}

/** Starts the node on `dir` armed to kill itself at a crash point (KEN_CRASH_AT), without waiting for it to serve. */
function armed(dir: string, crashAt: string): RunningNode {
  return nodes.launch(dir, [], { KEN_CRASH_AT: crashAt });
}

/** Waits (at most a minute) for a node armed at a crash point to die there, as SIGKILL kills it. */
async function diedAt(node: RunningNode, point: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(`the node did not die at ${point} within a minute`)), 60_000)));
  const exit = await Promise.race([node.exited, timeUp]).finally(() => clearTimeout(timer));
  expect(exit.signal, exit.stderr).toBe('SIGKILL');
  expect(exit.stderr).toContain(`crash point ${point} reached`);
}

const vatNames = (list: unknown) => (list as { name: string; state: string; vatId: string }[]).map(({ name, state, vatId }) => `${name}:${state}:${vatId}`);

/** A request to the running node on `dir`'s admin endpoint (what the client commands send, without a process each): its answer. */
async function request(dir: string, route: string, body: unknown): Promise<unknown> {
  return ask(dir, 'POST', route, body);
}
const call = async (dir: string, vatName: string, method: string, ...args: unknown[]) =>
  ((await request(dir, '/call', { vat: vatName, method, args })) as { result: unknown }).result;
const send = async (dir: string, url: string, method: string, ...args: unknown[]) =>
  ((await request(dir, '/send', { url, method, args })) as { result: unknown }).result;
const issue = async (dir: string, vatName: string, expiresInMs?: number) => ((await request(dir, '/url', { vat: vatName, expiresInMs })) as { url: string }).url;
const vatList = async (dir: string) => vatNames(await ask(dir, 'GET', '/vats'));

describe('vats as an operator manages them, two node processes', () => {
  it('config vats made once, create/terminate/upgrade with SIGKILLs at each step, timers across a SIGKILL, send and call from the shell, revoked and expired URLs', async () => {
    const root = dirs.make('ken-vat-admin-');
    const a = path.join(root, 'a');
    const b = path.join(root, 'b');
    expect((await nodes.init(a)).code).toBe(0);
    expect((await nodes.init(b)).code).toBe(0);
    const config = JSON.parse(readFileSync(dataDirFiles(a).config, 'utf8')) as Record<string, unknown>;
    config.vats = [
      { name: 'sleeper', source: vat('sleeper'), services: ['timer'] },
      { name: 'bank', source: vat('bank') },
    ];
    writeFileSync(dataDirFiles(a).config, JSON.stringify(config));
    const nodeB = await nodes.start(b);

    // Config vats: the first start dies creating one; the next creates what is missing, once.
    await diedAt(armed(a, 'vat-op-crank:2'), 'vat-op-crank');
    let nodeA = await nodes.start(a);
    const configured = ['bootstrap:live:v1', 'sleeper:live:v2', 'bank:live:v3'];
    expect(await vatList(a)).toEqual(configured);

    // Timers: a wake-up committed, the node SIGKILLed, started again past the time (dying once in the crank that fires it): it fires once.
    const expiring = await issue(a, 'bank', 1_000);
    const now = (await call(a, 'sleeper', 'now')) as number;
    const due = now + 1_500;
    expect(await call(a, 'sleeper', 'wakeAt', due, 'x')).toBe(due);
    nodeA.child.kill('SIGKILL');
    await nodeA.exited;
    expect(timersOf(a), 'the wake-up committed, not yet fired').toBe(1);
    await eventually('the wake-up to come due', () => Date.now() > due + 100, 10_000);
    await diedAt(armed(a, 'timer-fire-crank:1'), 'timer-fire-crank');
    nodeA = await nodes.start(a);
    await eventually('the wake-up to be delivered', async () => ((await call(a, 'sleeper', 'wakes', 'x')) as unknown[]).length > 0);
    expect(await call(a, 'sleeper', 'wakes', 'x')).toEqual([due]);
    expect(timersOf(a)).toBe(0);
    // Not made again by the starts since.
    expect(await vatList(a)).toEqual(configured);

    // Send from B: B redeems A's URL once and sends; a durable account of A's bank held by B (as a URL B redeemed).
    const bankUrl = await issue(a, 'bank');
    const version = await cli(b, 'send', bankUrl, 'version');
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toBe('1\n');
    await send(b, bankUrl, 'open', 'alice');
    const aliceUrl = (await send(b, bankUrl, 'publish', 'alice')) as string;
    expect(await send(b, aliceUrl, 'deposit', 10)).toBe(10);

    // A failed upgrade: the previous version runs on, its state byte for byte as it was, and the command says why.
    const before = vatstoreOf(a, 'bank');
    const forgot = await cli(a, 'vat', 'upgrade', 'bank', '--source', vat('bankForgetsKind'));
    expect(forgot.code).toBe(1);
    expect(forgot.stderr).toMatch(/the upgrade of vat "bank" failed, and its previous version runs on, its state untouched: .*Account/);
    expect(vatstoreOf(a, 'bank')).toEqual(before);
    expect(await send(b, aliceUrl, 'deposit', 1)).toBe(11);
    // One that works: state kept, B's reference to the durable account answers, with the new version's behaviour.
    expect(await request(a, '/vats/upgrade', { vat: 'bank', source: vat('bankV2') })).toMatchObject({ name: 'bank', state: 'live' });
    const version2 = await cli(a, 'call', '--vat', 'bank', 'version');
    expect(version2.stdout).toBe('2\n');
    expect(await send(b, aliceUrl, 'withdraw', 4)).toBe(7);

    // Bad input is exit 2, with what was wrong.
    const badUrl = await cli(b, 'send', 'ocap:nonsense', 'version');
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('expected an ocap URL');
    const badArgument = await cli(a, 'call', '--vat', 'bank', 'deposit', '{oops');
    expect(badArgument.code).toBe(2);
    expect(badArgument.stderr).toContain('expected a JSON value, got "{oops"');

    // Revoked and expired URLs are refused at redemption, saying which; the revocation holds across a restart (below).
    const revokedUrl = await issue(a, 'bank');
    expect((await cli(a, 'url', '--revoke', revokedUrl)).stdout).toBe('revoked\n');
    const refused = await cli(b, 'send', revokedUrl, 'version');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('ocap URL refused: it was revoked by the operator');
    await expect(send(b, expiring, 'version')).rejects.toThrow(/ocap URL refused: it expired at \d{4}-/);

    // Create and terminate at run time, the node SIGKILLed at each step: in the crank that carries the
    // operation out (nothing of it stays), and once that is committed, before the answer (done, once).
    nodeA.child.kill('SIGTERM');
    await nodeA.exited;
    /** Starts the node armed at `crashAt`, asks for `operation` (which gets no answer), and waits for the node to die there. */
    const killedDuring = async (crashAt: string, operation: () => Promise<unknown>) => {
      const dying = armed(a, crashAt);
      await eventually('the armed node to serve', async () => (await ask(a, 'GET', '/vats').catch(() => undefined)) !== undefined, 30_000);
      const before = await vatList(a);
      await expect(operation()).rejects.toThrow(/no answer from the node/);
      await diedAt(dying, crashAt.split(':')[0] as string);
      return before;
    };
    const teller = { name: 'teller', source: vat('bank'), runtime: 'lean' };
    await killedDuring('vat-op-crank:1', () => request(a, '/vats', teller));
    expect(await killedDuring('vat-op-committed:1', () => request(a, '/vats', teller))).toEqual(configured);
    expect(await killedDuring('vat-op-crank:1', () => request(a, '/vats/terminate', { vat: 'teller' }))).toEqual([...configured, 'teller:live:v4']);
    expect(await killedDuring('vat-op-committed:1', () => request(a, '/vats/terminate', { vat: 'teller' }))).toEqual([...configured, 'teller:live:v4']);
    nodeA = await nodes.start(a);
    expect(await vatList(a)).toEqual([...configured, 'teller:terminated:v4']);
    const again = await cli(a, 'vat', 'terminate', 'teller', '--yes');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('409: vat "teller" was terminated: terminated by the operator');
    expect(vatstoreOf(a, 'teller')).toEqual([]);
    await expect(send(b, revokedUrl, 'version')).rejects.toThrow('it was revoked by the operator');
    // And the command itself, with parameters and a service.
    const created = await cli(a, 'vat', 'create', 'clerk', '--source', vat('sleeper'), '--runtime', 'lean', '--service', 'timer', '--parameters', '{"desk":3}');
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ name: 'clerk', vatId: 'v5', state: 'live', runtime: 'lean' });
    expect(await call(a, 'clerk', 'wakeAfter', 0, 'soon')).toBeTypeOf('number');

    for (const node of [nodeA, nodeB]) node.child.kill('SIGTERM');
    expect((await nodeA.exited).code).toBe(0);
    expect((await nodeB.exited).code).toBe(0);
  }, 240_000);
});
