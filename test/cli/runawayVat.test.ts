import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readAdminToken } from '../../src/admin/token.js';
import { dataDirFiles } from '../../src/config/dataDir.js';
import { poisonDeliveryLimit } from '../../src/kernel/deliveryCrashes.js';
import { packageRoot } from '../../src/util/packageRoot.js';
import { eventually, tempDirs } from '../support/nodes.js';
import { ask, askWithToken, countsOf, nodeProcesses } from '../support/nodeCli.js';

const dirs = tempDirs();
const nodes = nodeProcesses();
afterEach(() => {
  nodes.killAll();
  dirs.cleanup();
});

const spinnerVat = path.join(packageRoot, 'test', 'vats', 'spinner.js');

/** `init` on `dir` (the counter as bootstrap vat) with the spinner vat declared in its config beside it. */
async function initWithSpinner(dir: string, args: string[]): Promise<void> {
  const made = await nodes.init(dir, { args });
  expect(made.code, made.stderr).toBe(0);
  const configFile = dataDirFiles(dir).config;
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(configFile, JSON.stringify({ ...config, vats: [{ name: 'spinner', source: spinnerVat }] }, null, 2), { mode: 0o600 });
}

const vatsOf = async (dir: string) => JSON.parse((await nodes.run(['vats', '--data-dir', dir])).stdout) as { name: string; state: string; reason?: string }[];
const stateOf = async (dir: string, name: string) => (await vatsOf(dir)).find((vat) => vat.name === name);

describe('a vat in an endless loop, node processes over libp2p', () => {
  it('is cut at the crank deadline: the admin endpoint answers, the other vats\' messages flow, the vat is failed with the reason and its data; after a restart nothing is wedged', async () => {
    const root = dirs.make('ken-runaway-');
    const dir = { a: path.join(root, 'a'), b: path.join(root, 'b') };
    await initWithSpinner(dir.a, ['--crank-deadline-ms', '1000']);
    expect((await nodes.init(dir.b)).code).toBe(0);
    const running = { a: await nodes.start(dir.a), b: await nodes.start(dir.b) };
    for (const [side, other, name] of [[dir.a, dir.b, 'b'], [dir.b, dir.a, 'a']] as const) {
      const url = (await nodes.run(['url', '--data-dir', other])).stdout.trim();
      expect((await nodes.run(['peers', '--data-dir', side, '--add', `${name}=${url}`])).code).toBe(0);
    }
    expect(await ask(dir.a, 'POST', '/call', { vat: 'spinner', method: 'ping' })).toEqual({ result: 1 });

    // B's 200 messages to A's counter are on their way when the spinner starts its loop.
    expect((await nodes.run(['call', '--data-dir', dir.b, 'send', '"a"', '200'])).code).toBe(0);
    const token = readAdminToken(dataDirFiles(dir.a).adminToken);
    const spin = askWithToken(dir.a, token, 'POST', '/call', { vat: 'spinner', method: 'spin' });
    const status = askWithToken(dir.a, token, 'GET', '/status');
    const spun = await spin;
    expect(spun.status, JSON.stringify(spun.body)).toBe(422);
    expect(spun.body).toEqual({ error: expect.stringMatching(/failed while handling this message: delivery abandoned: it ran past the crank deadline of 1000 ms without giving the thread back, and was terminated/) });
    expect((await status).status).toBe(200);
    expect((await nodes.run(['call', '--data-dir', dir.a, 'send', '"b"', '200'])).code).toBe(0);
    await eventually('200 messages each way', async () => (await countsOf(dir.a)).received === 200 && (await countsOf(dir.b)).received === 200, 30_000);
    expect(await stateOf(dir.a, 'spinner')).toMatchObject({ state: 'failed', reason: expect.stringContaining('crank deadline') });
    expect(await stateOf(dir.a, 'bootstrap')).toMatchObject({ state: 'live' });

    running.a.child.kill('SIGTERM');
    expect(await running.a.exited).toMatchObject({ code: 0 });
    running.a = await nodes.start(dir.a);
    expect(await stateOf(dir.a, 'spinner')).toMatchObject({ state: 'live' });
    // Its state from before the loop: the loop's message was consumed (rejected), not delivered again.
    expect(await ask(dir.a, 'POST', '/call', { vat: 'spinner', method: 'ping' })).toEqual({ result: 2 });
    expect((await nodes.run(['call', '--data-dir', dir.b, 'send', '"a"', '10'])).code).toBe(0);
    await eventually('10 more to A', async () => (await countsOf(dir.a)).received === 210, 30_000);
  }, 120_000);

  it(`without a deadline, a peer's message that loops is quarantined once the process died in it ${poisonDeliveryLimit} times: the next start serves, and the sender's outbox drains`, async () => {
    const root = dirs.make('ken-poison-');
    const dir = { a: path.join(root, 'a'), b: path.join(root, 'b') };
    // A COMMIT per crank: the message is committed when it is received, before it is delivered, so each start delivers it again.
    expect((await nodes.init(dir.a, { bootstrap: spinnerVat, args: ['--crank-deadline-ms', '0', '--commit-cranks', '1'] })).code).toBe(0);
    expect((await nodes.init(dir.b)).code).toBe(0);
    let a = await nodes.start(dir.a);
    const b = await nodes.start(dir.b);
    const url = (await nodes.run(['url', '--data-dir', dir.a])).stdout.trim();
    expect((await nodes.run(['peers', '--data-dir', dir.b, '--add', `a=${url}`])).code).toBe(0);
    expect((await nodes.run(['call', '--data-dir', dir.b, 'send', '"a"', '1'])).code).toBe(0);

    const markFile = dataDirFiles(dir.a).deliveryMark;
    // The mark names a queued message (`v1 run 7`), not a vat's start, while the process is stuck in the loop.
    const inMessageDelivery = () => {
      const mark = readFileSync(markFile);
      const length = mark.readUInt32LE(0);
      return length > 0 && mark.toString('utf8', 4, 4 + length).includes(' run ');
    };
    for (let death = 1; death <= poisonDeliveryLimit; death += 1) {
      await eventually(`A to be stuck in the looping delivery (death ${death})`, async () => inMessageDelivery(), 30_000);
      a.child.kill('SIGKILL');
      await a.exited;
      if (death === poisonDeliveryLimit) break;
      a = nodes.launch(dir.a);
      // The mark is the old one until the new process has counted it.
      let log = '';
      a.child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
      await eventually(`A to count death ${death}`, async () => log.includes(`"deaths":${death}`), 30_000);
    }
    a = await nodes.start(dir.a);
    expect(await stateOf(dir.a, 'bootstrap')).toMatchObject({ state: 'live' });
    expect(await ask(dir.a, 'POST', '/call', { method: 'ping' })).toEqual({ result: 1 });
    const peerIdOfA = ((await ask(dir.a, 'GET', '/status')) as { peerId: string }).peerId;
    await eventually('B\'s outbox to A to drain', async () => (await nodes.outboxTo(dir.b, peerIdOfA)) === 0, 30_000);
    for (const running of [a, b]) running.child.kill('SIGTERM');
    const stopped = { a: await a.exited, b: await b.exited };
    expect(stopped.a.code).toBe(0);
    expect(stopped.a.stderr).toContain('the process died during this delivery again: it is quarantined, not delivered again');
    expect(stopped.a.stderr).toContain('a delivery that kept killing the process is quarantined');
  }, 120_000);
});
