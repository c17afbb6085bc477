import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import type { KernelStats } from '../kernel/kernel.js';
import { KenNode } from '../node/node.js';
import { defaultSessionOptions } from '../remote/session.js';
import type { Durability } from '../store/index.js';
import { makeLogger, type LogLevel } from '../util/logger.js';
import { ensureWorkloadVats, verifyWorkload } from '../workload/localWorkload.js';
import { vatRuntimes, type VatRuntime } from '../vats/vatInstance.js';
import { durability, logLevel, positiveInteger, vatRuntime, wholeNumber } from './options.js';
import { defaultCrankDeadlineMs } from '../vats/crankWatchdog.js';

interface PeerWorkloadOptions {
  dataDir: string;
  listen: string[];
  urlFile: string;
  peerUrlFile: string;
  messages: number;
  send?: number;
  expect?: number;
  rttRounds: number;
  warmup: number;
  batch: number;
  sendOnly: boolean;
  countStatements: boolean;
  durability: Durability;
  runtime: VatRuntime;
  lingerMs: number;
  pollMs: number;
  statusMs: number;
  logLevel: LogLevel;
}

/**
 * `ken-node peer-workload`: one of two nodes that each send numbered
 * messages to the other's recorder vat over libp2p. Resumable at any
 * instant (the test kills it with SIGKILL and starts it again).
 */
export function peerWorkloadCommand(): Command {
  return new Command('peer-workload')
    .description(
      'run one side of the two-node exactly-once workload: publish this node\'s recorder as an ocap URL, ' +
        'redeem the peer\'s, send --send numbered messages to it, and wait until --expect of the peer\'s are consumed here ' +
        '(both default to --messages); print a JSON summary',
    )
    .requiredOption('--data-dir <dir>', 'the node\'s store directory (resumes from it)')
    .requiredOption('--listen <multiaddr...>', 'libp2p listen addresses (loopback), e.g. /ip4/127.0.0.1/tcp/4001')
    .requiredOption('--url-file <file>', 'where to write this node\'s recorder URL')
    .requiredOption('--peer-url-file <file>', 'where the peer writes its recorder URL')
    .option('--messages <n>', 'messages each way', positiveInteger, 5000)
    .option('--send <n>', 'numbered messages this node sends (0 allowed; default --messages)', wholeNumber)
    .option('--expect <n>', 'numbered messages this node must consume before it is done (0 allowed; default --messages)', wholeNumber)
    .option(
      '--rtt-rounds <n>',
      'after sending, time this many sequential round trips (the sender vat\'s pingPong) to the peer\'s recorder, ' +
        'which must --expect exactly these; their durations (ms) go to roundTripsMs in the summary',
      wholeNumber,
      0,
    )
    .option(
      '--warmup <n>',
      'untimed work first, so that the timings are of warm processes (as the raw libp2p baseline\'s are): the first n of the --send messages, ' +
        'until the peer has consumed them; with --rtt-rounds, n round trips before the timed ones (the peer\'s --expect counts them all)',
      wholeNumber,
      0,
    )
    .option('--batch <n>', 'messages per sender delivery', positiveInteger, 100)
    .option('--send-only', 'send each message with E.sendOnly (no result comes back) instead of E()', false)
    .option('--count-statements', 'count the SQL statements the store runs while the workload runs (statements in the summary); each costs a callback', false)
    .option('--durability <mode>', 'fsync or process', durability, 'fsync')
    .option('--runtime <runtime>', `the runtime of the sender and recorder vats, when they are created: ${vatRuntimes.join(' or ')}`, vatRuntime, 'liveslots')
    .option('--linger-ms <ms>', 'stay up this long after finishing, to answer the peer\'s resends', positiveInteger, 2000)
    .option('--poll-ms <ms>', 'how often to read the recorder\'s count while waiting (consumedAt in the summary is as exact)', positiveInteger, 100)
    .option('--status-ms <ms>', 'how often to print a progress line (consumed so far, the peer, the outbox) while waiting', positiveInteger, 5000)
    .option('--log-level <level>', 'debug, info, warn, error or silent', logLevel, 'warn')
    .action(async (options: PeerWorkloadOptions) => {
      process.exitCode = await runPeerWorkload(options);
    });
}

/** Message counts: whole numbers, 0 included. */
async function runPeerWorkload(options: PeerWorkloadOptions): Promise<number> {
  mkdirSync(options.dataDir, { recursive: true });
  const say = (line: string) => void process.stderr.write(`${line}\n`);
  const statements = { count: 0 };
  const node = await KenNode.start({
    ...(options.countStatements ? { onStatement: () => void (statements.count += 1) } : {}),
    storePath: path.join(options.dataDir, 'kernel.sqlite'),
    durability: options.durability,
    logger: makeLogger({ level: options.logLevel, name: 'ken-node' }),
    transport: { kind: 'libp2p', listen: options.listen, keyFile: path.join(options.dataDir, 'node.key') },
    // As under `ken-node start`, so that what is measured is what runs.
    crankDeadlineMs: defaultCrankDeadlineMs,
    deliveryMarkFile: path.join(options.dataDir, 'delivery.mark'),
    // The workload measures and checks delivery: room for every message it sends, so none is refused for a full outbox.
    session: { maxUnackedPerPeer: Math.max(defaultSessionOptions.maxUnackedPerPeer, (options.send ?? options.messages) + options.rttRounds + 1_000) },
  });
  try {
    return await workWith(node, options, say, statements);
  } finally {
    // On failure too: a running libp2p node would keep the process alive.
    await node.stop().catch(() => {});
  }
}

async function workWith(node: KenNode, options: PeerWorkloadOptions, say: (line: string) => void, statements: { count: number }): Promise<number> {
  const { kernel } = node;
  const { sender, recorder } = await ensureWorkloadVats(kernel, options.runtime);
  await kernel.run();
  if (!existsSync(options.urlFile)) {
    const url = await node.issueUrl(recorder);
    // Write-then-rename: the peer never reads half a URL.
    writeFileSync(`${options.urlFile}.tmp`, url);
    renameSync(`${options.urlFile}.tmp`, options.urlFile);
  }
  say(`peer-workload: ${node.peerId} ready`);
  // Progress read from the store, not through the run queue (a call to the
  // recorder waits behind every message queued before it): the frames from
  // the peer consumed so far, in order.
  const progress = setInterval(() => say(`  received ${node.store.peers.all()[0]?.receivedSeq ?? 0} frames from the peer`), options.statusMs);
  progress.unref();
  try {
    return await sendAndWait(node, options, say, recorder, sender, statements);
  } finally {
    clearInterval(progress);
  }
}

async function sendAndWait(
  node: KenNode,
  options: PeerWorkloadOptions,
  say: (line: string) => void,
  recorder: object,
  sender: object,
  statements: { count: number },
): Promise<number> {
  const send = options.send ?? options.messages;
  const expect = options.expect ?? options.messages;
  const { kernel } = node;
  // For the benchmarks: timings (epoch ms), and the kernel's counters from here to the end of the wait.
  const statsAtReady = { ...kernel.stats };
  const statementsAtReady = statements.count;
  let target: object | undefined;
  const peerTarget = async () => (target ??= await node.redeemUrl(await waitForFile(options.peerUrlFile, 60_000)));
  if (!((await kernel.call(sender, 'hasTarget')) as boolean)) {
    await kernel.call(sender, 'setTarget', [await peerTarget()]);
  }
  /** Sends the numbered messages up to `last` (from where the sender vat stands: a restart resumes). */
  const sendThrough = async (last: number) => {
    for (let round = 0; round < Math.ceil(last / options.batch) + 1; round += 1) {
      if (((await kernel.call(sender, 'nextSeq')) as number) > last) break;
      const sent = (await kernel.call(sender, options.sendOnly ? 'sendOnlyBatchToTarget' : 'sendBatchToTarget', [options.batch, last])) as number;
      say(`  sent ${sent}/${send}`);
    }
  };
  const warmup = Math.min(options.warmup, send);
  if (warmup > 0) {
    await sendThrough(warmup);
    // Asked after the warm-up's messages, in the same order: answered once the peer's recorder has consumed them.
    const consumedByPeer = (await kernel.call(sender, 'targetCount')) as number;
    say(`  warm-up: the peer consumed ${consumedByPeer}`);
  }
  const sendStartedAt = Date.now();
  await sendThrough(send);
  const roundTripsMs = options.rttRounds > 0 ? await timeRoundTrips(node, await peerTarget(), options.rttRounds, options.warmup) : undefined;
  // Done when the peer's messages are all consumed here, ours all acked,
  // and the peer has been quiet for --linger-ms (it may still be waiting for
  // acks of its last frames). Bounded: the peer may be down for a while.
  const deadline = Date.now() + 10 * 60_000;
  let consumed = 0;
  let peerId = '';
  let quietSince = Date.now();
  let framesSeen = node.sessions.stats.framesReceived;
  let statusAt = Date.now();
  let consumedAt: number | undefined;
  while (Date.now() < deadline) {
    consumed = (await kernel.call(recorder, 'count')) as number;
    if (consumed >= expect) consumedAt ??= Date.now();
    const peer = node.store.peers.all()[0];
    peerId = peer?.peerId ?? '';
    if (Date.now() - statusAt >= options.statusMs) {
      statusAt = Date.now();
      say(`  waiting: consumed ${consumed}/${expect}, peer ${JSON.stringify(peer)}, outbox ${peer ? node.sessions.outboxDepth(peer.peerId) : '-'}, ${JSON.stringify(node.sessions.stats)}`);
    }
    if (node.sessions.stats.framesReceived !== framesSeen) {
      framesSeen = node.sessions.stats.framesReceived;
      quietSince = Date.now();
    }
    const done = consumed >= expect && peerId !== '' && node.sessions.outboxDepth(peerId) === 0;
    if (done && Date.now() - quietSince >= options.lingerMs) break;
    await sleep(options.pollMs);
  }
  say(`  consumed ${consumed}/${expect}; outbox empty`);
  const kernelStats = statsSince(statsAtReady, kernel.stats);
  const statementsRun = options.countStatements ? statements.count - statementsAtReady : undefined;
  const verdict = await verifyWorkload(kernel, expect);
  const outbox = peerId === '' ? -1 : node.sessions.outboxDepth(peerId);
  const timing = { sendStartedAt, consumedAt, warmup };
  const summary = { ...verdict, outbox, stats: node.sessions.stats, timing, kernel: kernelStats, statements: statementsRun, roundTripsMs };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return verdict.exactlyOnceInOrder && outbox === 0 ? 0 : 1;
}

async function waitForFile(file: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${file}`);
}

/**
 * `rounds` sequential round trips from the sender vat (`pingPong`) to
 * `target`, timed from the host: each one runs from the release of a send
 * (its COMMIT, on disk) to the release of the next, which the sender makes
 * once the reply is in; after `warmup` untimed ones (numbered first: the
 * peer's recorder sees one sequence).
 */
async function timeRoundTrips(node: KenNode, target: object, rounds: number, warmup: number): Promise<number[]> {
  const { kernel } = node;
  if (warmup > 0) await kernel.call(kernel.rootOf('sender'), 'pingPong', [target, warmup]);
  const nextSendSeq = () => node.store.peers.all()[0]?.nextSendSeq;
  const committed: number[] = [];
  let seq = nextSendSeq();
  let timing = true;
  kernel.onCommit(() => {
    const next = timing ? nextSendSeq() : seq;
    if (next === seq) return {};
    seq = next;
    // The round trip ends when the send may leave: once its COMMIT is on disk.
    return { afterActions: () => committed.push(performance.now()) };
  });
  await kernel.call(kernel.rootOf('sender'), 'pingPong', [target, rounds, warmup + 1]);
  timing = false;
  return committed.slice(1).map((at, index) => at - (committed[index] ?? at));
}

/** Counter deltas as plain numbers (nanoseconds for the `*Ns` ones). */
function statsSince(before: KernelStats, after: KernelStats): Record<keyof KernelStats, number> {
  const keys = Object.keys(after) as (keyof KernelStats)[];
  return Object.fromEntries(keys.map((key) => [key, Number(after[key]) - Number(before[key])])) as Record<keyof KernelStats, number>;
}
