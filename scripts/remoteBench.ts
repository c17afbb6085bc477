import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { lpStream } from '@libp2p/utils';
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr';
import type { Libp2p } from 'libp2p';
import { exitOf, spawnCli, type Exit } from '../test/support/cli.js';
import type { Durability } from '../src/store/index.js';
import type { VatRuntime } from '../src/vats/vatInstance.js';
import { check, type Result } from './benchSupport.js';
import { echoProtocol, sinkProtocol, startRawNode } from './rawLibp2p.js';

/**
 * The remote benchmarks: two ken-node processes over libp2p on loopback
 * (`ken-node peer-workload`), and the same libp2p stack with nothing above
 * it between the bench process and a child, as the baseline.
 */

export interface RemoteOptions {
  /** Messages node A sends node B per throughput run. */
  messages: number;
  /** Round trips in the node RTT run. */
  rounds: number;
  /** Where the nodes' stores go; the caller removes it. */
  tempDir: string;
  progress: (line: string) => void;
}

const listenOn = { tcp: '/ip4/127.0.0.1/tcp/0', ws: '/ip4/127.0.0.1/tcp/0/ws' } as const;
type Transport = keyof typeof listenOn;

/** Raw baseline sizes: enough messages for a second or more of sending, after a warm-up. */
const rawMessages = 50_000;
const rawRounds = 2_000;
/**
 * The untimed work before each timing, the raw baseline's and the nodes'
 * alike: a node's process runs far more code than the raw echo, and V8
 * compiles it as it gets hot (hundreds of optimizations in the first
 * thousands of messages), so a timing from a cold start says more about
 * the compiler than about the path.
 */
const warmupMessages = rawMessages / 10;
const warmupRounds = rawRounds / 10;
const payload = new Uint8Array(100).fill(120);
/** Any child still running after this is killed and the bench fails. */
const childTimeoutMs = 120_000;

const children = new Set<ChildProcess>();

/** The value at `fraction` (0.5: the median) of the sorted values. */
function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? NaN;
}

const lastLines = (text: string, count: number) => text.trim().split('\n').slice(-count).join('\n');

/** Waits for a child's exit, killing it after {@link childTimeoutMs}. */
async function finished(child: ChildProcess, what: string): Promise<Exit> {
  children.add(child);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, childTimeoutMs);
  try {
    const exit = await exitOf(child);
    check(!timedOut, `${what} timed out after ${childTimeoutMs / 1000} s; its last lines:\n${lastLines(exit.stderr, 6)}`);
    return exit;
  } finally {
    clearTimeout(timer);
    children.delete(child);
  }
}

/** What `ken-node peer-workload` prints on exit (the fields used here). */
interface PeerSummary {
  consumed: number;
  exactlyOnceInOrder: boolean;
  outbox: number;
  stats: { framesSent: number; msgsSent: number };
  timing: { sendStartedAt: number; consumedAt?: number };
  kernel?: { cranks: number; deliveries: number; commits: number; vatNs: number; crankNs: number; commitNs: number };
  /** With --count-statements: the SQL statements the store ran while the workload ran. */
  statements?: number;
  roundTripsMs?: number[];
}

async function peerWorkload(name: string, args: string[]): Promise<PeerSummary> {
  const exit = await finished(spawnCli(['peer-workload', ...args]), `node ${name}`);
  check(exit.code === 0, `node ${name} exited with ${exit.signal ?? exit.code}; its last lines:\n${lastLines(exit.stderr, 6)}`);
  return JSON.parse(lastLines(exit.stdout, 1)) as PeerSummary;
}

/** How both nodes of a pair run: their vats' runtime and their durability. */
interface PairSetup {
  runtime: VatRuntime;
  durability: Durability;
}

const liveslotsFsync: PairSetup = { runtime: 'liveslots', durability: 'fsync' };

/** Node A and node B, each in a process of its own, over `transport`; `a` and `b` are their own peer-workload flags. */
async function nodePair(tempDir: string, transport: Transport, a: string[], b: string[], setup: PairSetup) {
  const dir = mkdtempSync(path.join(tempDir, `nodes-${transport}-`));
  const argsOf = (self: 'a' | 'b', peer: 'a' | 'b', own: string[]) => [
    '--data-dir', path.join(dir, self),
    '--listen', listenOn[transport],
    '--url-file', path.join(dir, `${self}.url`),
    '--peer-url-file', path.join(dir, `${peer}.url`),
    '--durability', setup.durability,
    '--runtime', setup.runtime,
    '--linger-ms', '1000',
    ...own,
  ];
  const [summaryA, summaryB] = await Promise.all([peerWorkload('A', argsOf('a', 'b', a)), peerWorkload('B', argsOf('b', 'a', b))]);
  return { a: summaryA, b: summaryB };
}

/** One node's kernel work in a run, per message (or round trip). */
function kernelNote(node: string, summary: PeerSummary, count: number, per: string): string {
  const k = summary.kernel;
  if (k === undefined) return `${node}: no kernel stats`;
  const us = (ns: number) => (ns / 1000 / count).toFixed(0);
  return (
    `${node} per ${per}: ${(k.cranks / count).toFixed(2)} cranks, ${(k.commits / count).toFixed(3)} commits, ` +
    `${us(k.crankNs)} us in cranks (${us(k.vatNs)} in vats), ${us(k.commitNs)} us in COMMIT`
  );
}

/** A sends `messages` to B's recorder (send-only, or with E()); msgs/s from A's first send until B's recorder has consumed them all. */
async function nodeThroughput(tempDir: string, transport: Transport, messages: number, options: { sendOnly?: boolean; runtime?: VatRuntime; countStatements?: boolean } = {}) {
  const total = String(warmupMessages + messages);
  const sendOnly = options.sendOnly === true ? ['--send-only'] : [];
  const counting = options.countStatements === true ? ['--count-statements'] : [];
  const setup = { ...liveslotsFsync, runtime: options.runtime ?? 'liveslots' };
  const { a, b } = await nodePair(tempDir, transport, ['--send', total, '--warmup', String(warmupMessages), '--expect', '0', ...sendOnly, ...counting], ['--send', '0', '--expect', total, '--poll-ms', '10', ...counting], setup);
  check(b.exactlyOnceInOrder && b.consumed === warmupMessages + messages, `node B consumed ${b.consumed} of ${total} messages, in order: ${b.exactlyOnceInOrder}`);
  check(b.timing.consumedAt !== undefined, 'node B did not say when it had consumed them');
  const seconds = (b.timing.consumedAt - a.timing.sendStartedAt) / 1000;
  const frames = (from: PeerSummary) => `${from.stats.framesSent} frames (${from.stats.msgsSent} msgs)`;
  // The counters run from each node's start, warm-up included: per message of all it sent.
  const counted = warmupMessages + messages;
  const note =
    `${messages} msgs A->B in batches of 100, ${seconds.toFixed(2)} s, after ${warmupMessages} untimed; A sent ${frames(a)}, B ${frames(b)}; ` +
    `per msg of all ${counted}: ${kernelNote('B', b, counted, 'msg')}; ${kernelNote('A', a, counted, 'msg')}`;
  const cranksPerMessage = ((a.kernel?.cranks ?? NaN) + (b.kernel?.cranks ?? NaN)) / counted;
  const statementsPerMessage = { sender: (a.statements ?? NaN) / counted, receiver: (b.statements ?? NaN) / counted };
  return { rate: messages / seconds, note, cranksPerMessage, statementsPerMessage };
}

/** Vat-to-vat round trips A -> B's recorder -> A, timed in A from the COMMIT of one send to the COMMIT of the next. */
async function nodeRoundTrips(tempDir: string, rounds: number, setup: PairSetup = liveslotsFsync) {
  const pings = warmupRounds + rounds;
  const { a, b } = await nodePair(
    tempDir,
    'tcp',
    ['--send', '0', '--expect', '0', '--rtt-rounds', String(rounds), '--warmup', String(warmupRounds)],
    ['--send', '0', '--expect', String(pings)],
    setup,
  );
  check(b.exactlyOnceInOrder && b.consumed === pings, `node B consumed ${b.consumed} of ${pings} pings, in order: ${b.exactlyOnceInOrder}`);
  const times = a.roundTripsMs ?? [];
  check(times.length >= rounds - 1, `node A timed ${times.length} of ${rounds - 1} round trips`);
  const note = `after ${warmupRounds} untimed; per round of all ${pings}: ${kernelNote('A', a, pings, 'round')}; ${kernelNote('B', b, pings, 'round')}`;
  const mean = times.reduce((sum, time) => sum + time, 0) / times.length;
  return { p50: percentile(times, 0.5), p90: percentile(times, 0.9), mean, count: times.length, note };
}

/** Runs `use` with a libp2p node in this process and a raw libp2p peer listening in a child process. */
async function withRawPeer<T>(transport: Transport, use: (dialer: Libp2p, peer: Multiaddr) => Promise<T>): Promise<T> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'rawLibp2pPeer.js');
  const child = spawn(process.execPath, [script, listenOn[transport]], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = finished(child, 'raw libp2p peer');
  const addresses = await new Promise<string[]>((resolve, reject) => {
    let seen = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('\n')) resolve(JSON.parse(seen.split('\n')[0] ?? '') as string[]);
    });
    exited.then((exit) => reject(new Error(`raw libp2p peer exited with ${exit.signal ?? exit.code}: ${exit.stderr}`)), reject);
  });
  check(addresses[0] !== undefined, 'the raw libp2p peer has no address');
  const dialer = await startRawNode([]);
  try {
    return await use(dialer, multiaddr(addresses[0]));
  } finally {
    await dialer.stop();
    child.stdin?.end();
    await exited;
  }
}

/** One awaited write per 100-byte message, then an empty one; msgs/s until the peer answers how many it read. */
async function rawThroughput(dialer: Libp2p, peer: Multiaddr, messages: number): Promise<number> {
  const stream = await dialer.dialProtocol(peer, sinkProtocol);
  const framed = lpStream(stream);
  const started = performance.now();
  for (let sent = 0; sent < messages; sent += 1) await framed.write(payload);
  await framed.write(new Uint8Array(0));
  const count = Number(new TextDecoder().decode((await framed.read()).subarray()));
  const seconds = (performance.now() - started) / 1000;
  check(count === messages, `the raw peer read ${count} of ${messages} messages`);
  await stream.close();
  return messages / seconds;
}

/** Echo round trips of one 100-byte message; each one's duration in ms. */
async function rawRoundTrips(dialer: Libp2p, peer: Multiaddr, rounds: number): Promise<number[]> {
  const stream = await dialer.dialProtocol(peer, echoProtocol);
  const framed = lpStream(stream);
  const times: number[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const started = performance.now();
    await framed.write(payload);
    const echo = await framed.read();
    times.push(performance.now() - started);
    check(echo.byteLength === payload.byteLength, `echo of ${echo.byteLength} bytes`);
  }
  await stream.close();
  return times;
}

export async function measureRemote(emit: (result: Result) => void, options: RemoteOptions): Promise<void> {
  const { messages, rounds, tempDir, progress } = options;
  const rawNote = 'bench process dials a child process; both under SES lockdown like a node';
  try {
    const raw: Partial<Record<Transport, number>> = {};
    let rawRtt: number | undefined;
    for (const transport of ['tcp', 'ws'] as const) {
      progress(`libp2p.raw.${transport}: ${rawMessages} messages${transport === 'tcp' ? `, ${rawRounds} echoes` : ''}`);
      await withRawPeer(transport, async (dialer, peer) => {
        await rawThroughput(dialer, peer, warmupMessages);
        raw[transport] = await rawThroughput(dialer, peer, rawMessages);
        emit({ name: `libp2p.raw.${transport}`, value: raw[transport], unit: 'msgs/s', note: `${rawMessages} x 100 B, one awaited write each; ${rawNote}` });
        if (transport !== 'tcp') return;
        await rawRoundTrips(dialer, peer, warmupRounds);
        const times = await rawRoundTrips(dialer, peer, rawRounds);
        rawRtt = percentile(times, 0.5) * 1000;
        emit({ name: 'libp2p.rtt.p50.tcp', value: percentile(times, 0.5) * 1000, unit: 'us', note: `echo of 100 B, median of ${rawRounds}; ${rawNote}` });
      });
    }

    const remote: Partial<Record<Transport, number>> = {};
    for (const transport of ['tcp', 'ws'] as const) {
      progress(`remote.throughput.${transport}: ${messages} messages between two node processes`);
      const run = await nodeThroughput(tempDir, transport, messages);
      remote[transport] = run.rate;
      emit({ name: `remote.throughput.${transport}`, value: run.rate, unit: 'msgs/s', note: run.note });
      if (transport === 'tcp') {
        emit({ name: 'kernel.cranks_per_message.remote', value: run.cranksPerMessage, unit: 'cranks', note: 'remote.throughput.tcp: cranks of A and B together, per message' });
      }
    }

    progress(`remote.throughput.tcp.sendonly: ${messages} send-only messages between two node processes`);
    const sendOnly = await nodeThroughput(tempDir, 'tcp', messages, { sendOnly: true });
    emit({ name: 'remote.throughput.tcp.sendonly', value: sendOnly.rate, unit: 'msgs/s', note: `E.sendOnly; ${sendOnly.note}` });

    progress(`remote.throughput.tcp.lean: ${messages} messages between two node processes, lean vats`);
    const lean = await nodeThroughput(tempDir, 'tcp', messages, { runtime: 'lean' });
    const leanShare = lean.rate / (raw.tcp ?? NaN);
    emit({
      name: 'remote.throughput.tcp.lean',
      value: lean.rate,
      unit: 'msgs/s',
      note: `lean vats; ${(leanShare * 100).toFixed(1)}% of libp2p.raw.tcp (target >= 20%${leanShare < 0.2 ? ', MISSED' : ''}); ${lean.note}`,
    });

    // What a lean message costs without its result: the share of the rate the result's round trip takes.
    progress(`remote.throughput.tcp.sendonly.lean: ${messages} send-only messages between two node processes, lean vats`);
    const leanSendOnly = await nodeThroughput(tempDir, 'tcp', messages, { runtime: 'lean', sendOnly: true });
    emit({
      name: 'remote.throughput.tcp.sendonly.lean',
      value: leanSendOnly.rate,
      unit: 'msgs/s',
      note: `lean vats, E.sendOnly; ${((leanSendOnly.rate / (raw.tcp ?? NaN)) * 100).toFixed(1)}% of libp2p.raw.tcp; ${leanSendOnly.note}`,
    });

    // Counted in a run of its own: the count's callback would weigh on the rate.
    progress(`remote.sql_per_message.{sender,receiver}.lean: ${messages} messages, lean vats, statements counted`);
    const counted = await nodeThroughput(tempDir, 'tcp', messages, { runtime: 'lean', countStatements: true });
    for (const side of ['sender', 'receiver'] as const) {
      emit({
        name: `remote.sql_per_message.${side}.lean`,
        value: counted.statementsPerMessage[side],
        unit: 'statements',
        note: `as remote.throughput.tcp.lean: the SQL statements node ${side === 'sender' ? 'A' : 'B'} ran, per message (BEGIN/COMMIT included)`,
      });
    }

    const rtts: [string, PairSetup][] = [
      ['remote.rtt.p50.tcp', liveslotsFsync],
      ['remote.rtt.p50.tcp.process', { runtime: 'liveslots', durability: 'process' }],
      ['remote.rtt.p50.tcp.process.lean', { runtime: 'lean', durability: 'process' }],
    ];
    for (const [name, setup] of rtts) {
      progress(`${name}: ${rounds} round trips between two node processes (${setup.durability}, ${setup.runtime})`);
      const rtt = await nodeRoundTrips(tempDir, rounds, setup);
      const overRaw = (rtt.p50 * 1000) / (rawRtt ?? NaN);
      emit({
        name,
        value: rtt.p50 * 1000,
        unit: 'us',
        note: `${setup.durability}, ${setup.runtime} vats, ${overRaw.toFixed(1)}x libp2p.rtt.p50.tcp; sender vat pingPong to the peer's recorder, ${rtt.count} rounds, COMMIT to COMMIT in A; mean ${(rtt.mean * 1000).toFixed(0)} us, p90 ${(rtt.p90 * 1000).toFixed(0)} us; ${rtt.note}`,
      });
    }

    const ratio = (remote.tcp ?? NaN) / (raw.tcp ?? NaN);
    emit({ name: 'remote.throughput.tcp.ratio', value: ratio, unit: 'ratio', note: `remote/raw libp2p TCP; target >= 0.5${ratio < 0.5 ? ' (MISSED)' : ''}` });
  } finally {
    for (const child of children) child.kill('SIGKILL');
  }
}
