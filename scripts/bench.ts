// What libp2p needs of the platform, then SES lockdown: it must run before
// any module that uses harden or Far.
import '../src/net/platform.js';
import '@endo/init';
import '../src/util/errorStackDepth.js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { Command, InvalidArgumentError } from 'commander';
import { defaultGroupCommit, strictCommit, type CommitLimits } from '../src/kernel/commitPolicy.js';
import { Kernel, type KernelStats } from '../src/kernel/kernel.js';
import { openStore, type Durability } from '../src/store/index.js';
import { makeLogger } from '../src/util/logger.js';
import { bundleVat, exampleVatPath, type VatBundle } from '../src/vats/bundles.js';
import { CrankWatchdog, defaultCrankDeadlineMs } from '../src/vats/crankWatchdog.js';
import type { VatRuntime } from '../src/vats/vatInstance.js';
import { DeliveryMarker } from '../src/store/deliveryMarker.js';
import { check, type Result } from './benchSupport.js';
import { measureRemote } from './remoteBench.js';
import { measureVatCosts } from './vatBench.js';

interface Options {
  json: boolean;
  messages: number;
  rounds: number;
  remoteMessages: number;
  remoteRounds: number;
}

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError('expected an integer >= 1');
  return value;
}

const options = new Command()
  .name('bench')
  .description('ken-node benchmarks: local ping-pong and burst, commit modes, raw SQLite fsync; two nodes over libp2p against raw libp2p')
  .option('--json', 'one JSON object {"name","value","unit"} per line on stdout, nothing else', false)
  .option('--messages <n>', 'messages per burst run', positiveInteger, 10_000)
  .option('--rounds <n>', 'round trips per ping-pong run', positiveInteger, 2_000)
  .option('--remote-messages <n>', 'messages node A sends node B per remote throughput run', positiveInteger, 10_000)
  .option('--remote-rounds <n>', 'round trips in the remote ping-pong run', positiveInteger, 500)
  .parse()
  .opts<Options>();

const logger = makeLogger({ level: 'warn' });
const tempDir = mkdtempSync(path.join(os.tmpdir(), 'ken-bench-'));
let storeCount = 0;
let bundles: Record<'sender' | 'recorder', VatBundle>;
/** The crank deadline every kernel here runs under, as under `ken-node start`. */
let watchdog: CrankWatchdog;
const markers: DeliveryMarker[] = [];

function progress(line: string): void {
  if (!options.json) process.stderr.write(`bench: ${line}\n`);
}

/** A kernel on a fresh store file in the temp dir, with a sender and a recorder vat on `runtime`, the crank deadline and delivery marks on as `start` has them. */
async function startPair(commit: CommitLimits, durability: Durability, runtime: VatRuntime, onStatement?: (sql: string) => void) {
  storeCount += 1;
  const store = openStore({ path: path.join(tempDir, `kernel-${storeCount}.sqlite`), durability, onStatement });
  const deliveryMarks = new DeliveryMarker(path.join(tempDir, `delivery-${storeCount}.mark`));
  markers.push(deliveryMarks);
  const kernel = await Kernel.start({ store, logger, commit, guard: watchdog, deliveryMarks });
  await kernel.createVat({ name: 'sender', bundle: bundles.sender, runtime });
  await kernel.createVat({ name: 'recorder', bundle: bundles.recorder, runtime });
  return { kernel, sender: kernel.rootOf('sender'), recorder: kernel.rootOf('recorder') };
}

type Counters = Pick<KernelStats, 'cranks' | 'commits' | 'vatNs' | 'syscallNs' | 'crankNs' | 'commitNs'>;

/** Times one kernel call (it returns once the kernel is idle and committed) and the kernel stats it added. */
async function timeCall(kernel: Kernel, target: object, method: string, args: unknown[]) {
  const { cranks, commits, vatNs, syscallNs, crankNs, commitNs } = kernel.stats;
  const started = performance.now();
  const result = await kernel.call(target, method, args);
  const seconds = (performance.now() - started) / 1000;
  const after = kernel.stats;
  const delta: Counters = {
    cranks: after.cranks - cranks,
    commits: after.commits - commits,
    vatNs: after.vatNs - vatNs,
    syscallNs: after.syscallNs - syscallNs,
    crankNs: after.crankNs - crankNs,
    commitNs: after.commitNs - commitNs,
  };
  return { result, seconds, delta };
}

/** `rounds` sequential round trips sender -> recorder; round trips per second. */
async function pingPong(commit: CommitLimits, rounds: number, runtime: VatRuntime = 'liveslots') {
  const { kernel, sender, recorder } = await startPair(commit, 'fsync', runtime);
  const run = await timeCall(kernel, sender, 'pingPong', [recorder, rounds]);
  check(run.result === rounds, `pingPong returned ${String(run.result)}, expected ${rounds}`);
  const count = await kernel.call(recorder, 'count');
  check(count === rounds, `recorder consumed ${String(count)} of ${rounds} ping-pong messages`);
  kernel.close();
  return { ...run, rate: rounds / run.seconds };
}

/** The sender sends `messages` messages to the recorder at once; timed until the kernel is idle. */
async function burst(commit: CommitLimits, durability: Durability, messages: number, runtime: VatRuntime = 'liveslots') {
  const { kernel, sender, recorder } = await startPair(commit, durability, runtime);
  const run = await timeCall(kernel, sender, 'sendBatch', [recorder, messages, messages]);
  check(run.result === messages, `sendBatch returned ${String(run.result)}, expected ${messages}`);
  const count = await kernel.call(recorder, 'count');
  check(count === messages, `recorder consumed ${String(count)} of ${messages} messages`);
  kernel.close();
  return { ...run, rate: run.delta.cranks / run.seconds, messageRate: messages / run.seconds };
}

/**
 * SQL statements the store runs per message of a group-commit burst, and
 * the statements that run most (a separate run: counting costs time).
 */
async function sqlPerMessage(messages: number, runtime: VatRuntime) {
  let counting = false;
  const counts = new Map<string, number>();
  const { kernel, sender, recorder } = await startPair(defaultGroupCommit, 'fsync', runtime, (sql) => {
    if (counting) counts.set(sql, (counts.get(sql) ?? 0) + 1);
  });
  counting = true;
  const sent = await kernel.call(sender, 'sendBatch', [recorder, messages, messages]);
  counting = false;
  check(sent === messages, `sendBatch returned ${String(sent)}, expected ${messages}`);
  kernel.close();
  const total = [...counts.values()].reduce((sum, count) => sum + count, 0);
  const top = [...counts].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([sql, count]) => ({ perMessage: count / messages, sql: sql.replace(/\s+/g, ' ') }));
  return { perMessage: total / messages, top };
}

/**
 * What the crank deadline and the delivery mark add to each delivery:
 * `watch` of a delivery that does nothing against awaiting it bare, and a
 * begin/end pair of marks.
 */
async function guardCosts(): Promise<{ guardUs: number; markUs: number; rounds: number }> {
  const rounds = 20_000;
  const nothing = async () => ({ ok: true });
  let started = performance.now();
  for (let round = 0; round < rounds; round += 1) await nothing();
  const bareMs = performance.now() - started;
  started = performance.now();
  for (let round = 0; round < rounds; round += 1) await watchdog.watch(nothing);
  const guardedMs = performance.now() - started;
  const marker = new DeliveryMarker(path.join(tempDir, 'costs.mark'));
  started = performance.now();
  for (let round = 0; round < rounds; round += 1) {
    marker.begin(`v1 run ${round}`);
    marker.end();
  }
  const markMs = performance.now() - started;
  marker.close();
  return { guardUs: ((guardedMs - bareMs) * 1000) / rounds, markUs: (markMs * 1000) / rounds, rounds };
}

/** Raw better-sqlite3 commits per second: WAL, synchronous=FULL, one ~100-byte INSERT per transaction. */
function sqliteCommits(): { rate: number; commits: number } {
  const db = new Database(path.join(tempDir, 'raw.sqlite'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)');
    const insert = db.prepare('INSERT INTO rows (payload) VALUES (?)');
    const commit = db.transaction((payload: string) => insert.run(payload));
    const payload = 'x'.repeat(100);
    const started = performance.now();
    let commits = 0;
    while (commits < 2_000 && performance.now() - started < 2_000) {
      commit(payload);
      commits += 1;
    }
    return { rate: commits / ((performance.now() - started) / 1000), commits };
  } finally {
    db.close();
  }
}

const commitModes = { crank: strictCommit, group: defaultGroupCommit } as const;

async function measure(emit: (result: Result) => void): Promise<void> {
  progress('bundling vats');
  watchdog = await CrankWatchdog.start({ deadlineMs: defaultCrankDeadlineMs, logger });
  bundles = { sender: await bundleVat(exampleVatPath('sender')), recorder: await bundleVat(exampleVatPath('recorder')) };

  progress('warm-up');
  await pingPong(defaultGroupCommit, 100);
  await burst(defaultGroupCommit, 'process', 500);

  const { rounds, messages } = options;
  for (const mode of ['crank', 'group'] as const) {
    const name = `local.pingpong.fsync.${mode}`;
    progress(`${name}: ${rounds} round trips`);
    const run = await pingPong(commitModes[mode], rounds);
    emit({ name, value: run.rate, unit: 'roundtrips/s', note: `${run.delta.cranks} cranks, ${run.delta.commits} commits, ${run.seconds.toFixed(2)} s` });
  }

  const bursts = [
    ['crank', 'fsync'],
    ['group', 'fsync'],
    ['group', 'process'],
  ] as const;
  const rates: Record<string, number> = {};
  let fsyncGroup: Counters | undefined;
  for (const [mode, durability] of bursts) {
    const name = `local.burst.${durability}.${mode}`;
    progress(`${name}: ${messages} messages`);
    const run = await burst(commitModes[mode], durability, messages);
    rates[name] = run.rate;
    if (mode === 'group' && durability === 'fsync') fsyncGroup = run.delta;
    const note = `${run.delta.cranks} cranks, ${run.delta.commits} commits, ${run.seconds.toFixed(2)} s`;
    emit({ name, value: run.rate, unit: 'cranks/s', note });
    emit({ name: `${name}.messages`, value: run.messageRate, unit: 'msgs/s', note: `${messages} messages consumed` });
  }

  {
    const name = 'local.pingpong.fsync.group.lean';
    progress(`${name}: ${rounds} round trips`);
    const run = await pingPong(defaultGroupCommit, rounds, 'lean');
    emit({ name, value: run.rate, unit: 'roundtrips/s', note: `lean vats; ${run.delta.cranks} cranks, ${run.delta.commits} commits, ${run.seconds.toFixed(2)} s` });
  }
  let leanGroup: Counters | undefined;
  {
    const name = 'local.burst.fsync.group.messages.lean';
    progress(`${name}: ${messages} messages`);
    const run = await burst(defaultGroupCommit, 'fsync', messages, 'lean');
    leanGroup = run.delta;
    emit({ name, value: run.messageRate, unit: 'msgs/s', note: `lean vats; target >= 6500${run.messageRate < 6500 ? ' (MISSED)' : ''}; ${run.delta.cranks} cranks, ${run.delta.commits} commits, ${run.seconds.toFixed(2)} s` });
  }

  const ratio = (rates['local.burst.fsync.group'] ?? NaN) / (rates['local.burst.process.group'] ?? NaN);
  emit({ name: 'local.burst.fsync.group.ratio', value: ratio, unit: 'ratio', note: `fsync/process group commit; target >= 0.8${ratio < 0.8 ? ' (MISSED)' : ''}` });

  check(fsyncGroup !== undefined, 'no fsync group burst run');
  const us = (ns: bigint, count: number) => Number(ns) / 1000 / count;
  const split = 'burst fsync group';
  const { cranks } = fsyncGroup;
  // The vat's own time excludes the syscalls it made; the kernel's includes them.
  const vatOwnNs = fsyncGroup.vatNs - fsyncGroup.syscallNs;
  emit({ name: 'kernel.crank.vat_us', value: us(vatOwnNs, cranks), unit: 'us', note: `${split}: liveslots and vat code, per crank` });
  emit({ name: 'kernel.crank.kernel_us', value: us(fsyncGroup.crankNs - vatOwnNs, cranks), unit: 'us', note: `${split}: kernel, per crank (syscalls included)` });
  emit({ name: 'kernel.crank.syscall_us', value: us(fsyncGroup.syscallNs, cranks), unit: 'us', note: `${split}: of which answering syscalls` });
  emit({ name: 'kernel.commit_us', value: us(fsyncGroup.commitNs, fsyncGroup.commits), unit: 'us', note: `${split}: per COMMIT` });
  const leanOwnNs = leanGroup.vatNs - leanGroup.syscallNs;
  emit({ name: 'kernel.crank.vat_us.lean', value: us(leanOwnNs, leanGroup.cranks), unit: 'us', note: `${split}, lean vats: runtime and vat code, per crank` });
  emit({ name: 'kernel.crank.kernel_us.lean', value: us(leanGroup.crankNs - leanOwnNs, leanGroup.cranks), unit: 'us', note: `${split}, lean vats: kernel, per crank (syscalls included)` });

  for (const runtime of ['liveslots', 'lean'] as const) {
    const name = runtime === 'liveslots' ? 'kernel.sql_per_message' : 'kernel.sql_per_message.lean';
    progress(`${name}: 2000 messages`);
    const sql = await sqlPerMessage(2_000, runtime);
    for (const { perMessage, sql: text } of sql.top) progress(`  ${perMessage.toFixed(2)} x ${text.slice(0, 140)}`);
    emit({ name, value: sql.perMessage, unit: 'statements', note: `burst fsync group, ${runtime} vats: SQL statements the store ran, per message (BEGIN/COMMIT included)` });
  }

  progress('kernel.delivery.guard_us, kernel.delivery.mark_us');
  const costs = await guardCosts();
  emit({ name: 'kernel.delivery.guard_us', value: costs.guardUs, unit: 'us', note: `the crank deadline's watch of an empty delivery, less a bare await (${costs.rounds} rounds)` });
  emit({ name: 'kernel.delivery.mark_us', value: costs.markUs, unit: 'us', note: `a delivery's mark and the end that lets the next one replace it: one pwrite (${costs.rounds} rounds)` });

  progress('vats.harden_us, vats.freeze_us, vats.marshal.decode_us, vats.eventual_send_us');
  await measureVatCosts(emit);

  progress('sqlite.commit.fsync');
  const raw = sqliteCommits();
  emit({ name: 'sqlite.commit.fsync', value: raw.rate, unit: 'commits/s', note: `raw better-sqlite3, WAL, synchronous=FULL, ${raw.commits} commits` });

  await watchdog.stop();
  for (const marker of markers) marker.close();

  await measureRemote(emit, { messages: options.remoteMessages, rounds: options.remoteRounds, tempDir, progress });
}

/** Whole numbers from 100 up, a few decimals below. */
function rounded(value: number): number {
  if (!Number.isFinite(value)) return value;
  return Math.abs(value) >= 100 ? Math.round(value) : Number(value.toFixed(Math.abs(value) >= 10 ? 1 : 3));
}

function printTable(results: Result[]): void {
  const rows = [['name', 'value', 'unit', 'note'], ...results.map((r) => [r.name, String(rounded(r.value)), r.unit, r.note])];
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column]?.length ?? 0)));
  for (const [name = '', value = '', unit = '', note = ''] of rows) {
    const [nameWidth = 0, valueWidth = 0, unitWidth = 0] = widths;
    process.stdout.write(`${name.padEnd(nameWidth)}  ${value.padStart(valueWidth)}  ${unit.padEnd(unitWidth)}  ${note}\n`);
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const results: Result[] = [];
  await measure((result) => {
    check(Number.isFinite(result.value), `${result.name} is not a finite number (${result.value})`);
    results.push(result);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ name: result.name, value: rounded(result.value), unit: result.unit })}\n`);
    }
  });
  if (!options.json) printTable(results);
  progress(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

try {
  await main();
} catch (error) {
  // Under SES, error.stack is empty unless errorTaming is unsafe: fall back to the message.
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack || `${error.name}: ${error.message}` : String(error)}\n`);
  process.exitCode = 1;
} finally {
  rmSync(tempDir, { recursive: true, force: true });
}
