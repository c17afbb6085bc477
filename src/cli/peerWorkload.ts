import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { KenNode } from '../node/node.js';
import type { Durability } from '../store/index.js';
import { makeLogger, type LogLevel } from '../util/logger.js';
import { ensureWorkloadVats, verifyWorkload } from '../workload/localWorkload.js';
import { durability, logLevel, positiveInteger } from './options.js';

interface PeerWorkloadOptions {
  dataDir: string;
  listen: string[];
  urlFile: string;
  peerUrlFile: string;
  messages: number;
  batch: number;
  durability: Durability;
  lingerMs: number;
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
        'redeem the peer\'s, send --messages numbered messages to it, and wait until the peer\'s messages are consumed here',
    )
    .requiredOption('--data-dir <dir>', 'the node\'s store directory (resumes from it)')
    .requiredOption('--listen <multiaddr...>', 'libp2p listen addresses (loopback), e.g. /ip4/127.0.0.1/tcp/4001')
    .requiredOption('--url-file <file>', 'where to write this node\'s recorder URL')
    .requiredOption('--peer-url-file <file>', 'where the peer writes its recorder URL')
    .option('--messages <n>', 'messages each way', positiveInteger, 5000)
    .option('--batch <n>', 'messages per sender delivery', positiveInteger, 100)
    .option('--durability <mode>', 'fsync or process', durability, 'fsync')
    .option('--linger-ms <ms>', 'stay up this long after finishing, to answer the peer\'s resends', positiveInteger, 2000)
    .option('--log-level <level>', 'debug, info, warn, error or silent', logLevel, 'warn')
    .action(async (options: PeerWorkloadOptions) => {
      process.exitCode = await runPeerWorkload(options);
    });
}

async function runPeerWorkload(options: PeerWorkloadOptions): Promise<number> {
  mkdirSync(options.dataDir, { recursive: true });
  const say = (line: string) => void process.stderr.write(`${line}\n`);
  const node = await KenNode.start({
    storePath: path.join(options.dataDir, 'kernel.sqlite'),
    durability: options.durability,
    logger: makeLogger({ level: options.logLevel, name: 'ken-node' }),
    transport: { kind: 'libp2p', listen: options.listen },
  });
  const { kernel } = node;
  const { sender, recorder } = await ensureWorkloadVats(kernel);
  await kernel.run();
  if (!existsSync(options.urlFile)) {
    const url = await node.issueUrl(recorder);
    // Write-then-rename: the peer never reads half a URL.
    writeFileSync(`${options.urlFile}.tmp`, url);
    renameSync(`${options.urlFile}.tmp`, options.urlFile);
  }
  say(`peer-workload: ${node.peerId} ready`);
  if (!((await kernel.call(sender, 'hasTarget')) as boolean)) {
    const peerUrl = await waitForFile(options.peerUrlFile, 60_000);
    await kernel.call(sender, 'setTarget', [await node.redeemUrl(peerUrl)]);
  }
  const rounds = Math.ceil(options.messages / options.batch) + 1;
  for (let round = 0; round < rounds; round += 1) {
    if (((await kernel.call(sender, 'nextSeq')) as number) > options.messages) break;
    const sent = (await kernel.call(sender, 'sendBatchToTarget', [options.batch, options.messages])) as number;
    say(`  sent ${sent}/${options.messages}`);
  }
  // Done when the peer's messages are all consumed here, ours all acked,
  // and the peer has been quiet for --linger-ms (it may still be waiting for
  // acks of its last frames). Bounded: the peer may be down for a while.
  const deadline = Date.now() + 10 * 60_000;
  let consumed = 0;
  let peerId = '';
  let quietSince = Date.now();
  let framesSeen = node.sessions.stats.framesReceived;
  let statusAt = Date.now();
  while (Date.now() < deadline) {
    consumed = (await kernel.call(recorder, 'count')) as number;
    const peer = node.store.peers.all()[0];
    peerId = peer?.peerId ?? '';
    if (Date.now() - statusAt >= 5000) {
      statusAt = Date.now();
      say(`  waiting: consumed ${consumed}/${options.messages}, peer ${JSON.stringify(peer)}, outbox ${peer ? node.sessions.outboxDepth(peer.peerId) : '-'}, ${JSON.stringify(node.sessions.stats)}`);
    }
    if (node.sessions.stats.framesReceived !== framesSeen) {
      framesSeen = node.sessions.stats.framesReceived;
      quietSince = Date.now();
    }
    const done = consumed >= options.messages && peerId !== '' && node.sessions.outboxDepth(peerId) === 0;
    if (done && Date.now() - quietSince >= options.lingerMs) break;
    await sleep(100);
  }
  say(`  consumed ${consumed}/${options.messages}; outbox empty`);
  const verdict = await verifyWorkload(kernel, options.messages);
  const outbox = peerId === '' ? -1 : node.sessions.outboxDepth(peerId);
  process.stdout.write(`${JSON.stringify({ ...verdict, outbox, stats: node.sessions.stats })}\n`);
  await node.stop();
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
