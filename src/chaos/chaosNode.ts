import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PartyReport } from '../fault/checker.js';
import { CrashPoints, type CrashArming } from '../fault/crashPoints.js';
import { isDrained, nodeEndOf } from '../fault/nodeEnd.js';
import { KenNode } from '../node/node.js';
import { defaultSessionOptions } from '../remote/session.js';
import { parseOcapUrl } from '../remote/ocapUrl.js';
import type { Durability } from '../store/index.js';
import type { Logger } from '../util/logger.js';
import { seededRandom } from '../util/random.js';
import { waitForFile } from '../util/waitForFile.js';
import { bundleVat, exampleVatPath } from '../vats/bundles.js';
import { defaultCrankDeadlineMs } from '../vats/crankWatchdog.js';
import { chaosFiles, type ChaosNodeLine, type PartyCounts } from './protocol.js';

export interface ChaosNodeOptions {
  name: string;
  dataDir: string;
  /** The run's shared directory: this node's URL goes in, its peers' URLs (through the proxies) come out. */
  runDir: string;
  listen: string[];
  peers: string[];
  /** Messages to send to each peer, counted by the party's durable record (a restart goes on from there). */
  messagesPerPeer: number;
  seed: number;
  crashAt: CrashArming | undefined;
  durability: Durability;
  /** Pause between two send requests. */
  paceMs: number;
  logger: Logger;
}

const statusEveryMs = 250;
const peerUrlTimeoutMs = 60_000;

/**
 * One node of a real-process chaos run (`ken-node chaos-node`): a party vat
 * that sends its share of numbered messages to every peer, resumable after
 * SIGKILL at any instant. It prints JSON lines on stdout (status, then the
 * report) and takes commands on stdin (`report`, `stop`).
 */
export async function runChaosNode(options: ChaosNodeOptions, write: (line: ChaosNodeLine) => void): Promise<void> {
  const { name, runDir, peers } = options;
  mkdirSync(options.dataDir, { recursive: true });
  const node = await KenNode.start({
    storePath: path.join(options.dataDir, 'node.sqlite'),
    durability: options.durability,
    logger: options.logger,
    transport: { kind: 'libp2p', listen: options.listen, keyFile: path.join(options.dataDir, 'node.key') },
    crashPoints: new CrashPoints(options.crashAt),
    // As under `ken-node start`: the crank deadline and the delivery marks.
    crankDeadlineMs: defaultCrankDeadlineMs,
    deliveryMarkFile: path.join(options.dataDir, 'delivery.mark'),
    // The checker counts every committed send as owed: none may be refused for a full outbox.
    session: { maxUnackedPerPeer: Math.max(defaultSessionOptions.maxUnackedPerPeer, options.messagesPerPeer + 1_000) },
  });
  const { kernel } = node;
  if (!kernel.hasVat('party')) {
    await kernel.createVat({ name: 'party', bundle: await bundleVat(exampleVatPath('party')), parameters: { name } });
  }
  const party = kernel.rootOf('party');
  const counts = async () => (await kernel.call(party, 'counts')) as PartyCounts;

  const files = chaosFiles(runDir);
  const ownUrl = files.url(name);
  if (!existsSync(ownUrl)) {
    mkdirSync(path.dirname(ownUrl), { recursive: true });
    writeFileSync(`${ownUrl}.tmp`, await node.issueUrl(party));
    renameSync(`${ownUrl}.tmp`, ownUrl); // the runner never reads half a URL
  }

  const nameOfPeerId = new Map<string, string>();
  for (const peer of peers) {
    const url = await waitForFile(files.peerUrl(name, peer), peerUrlTimeoutMs);
    nameOfPeerId.set(parseOcapUrl(url).peerId, peer);
    if (!(await counts()).peers.includes(peer)) {
      const presence = await node.redeemUrl(url);
      await kernel.call(party, 'addPeer', [peer, presence]);
    }
  }

  let sendingDone = false;
  let finishing = false;
  const status = async () => {
    const end = nodeEndOf(name, node.store, (peerId) => nameOfPeerId.get(peerId) ?? peerId);
    const now = await counts();
    write({ status: { name, sendingDone, drained: isDrained(end, kernel.runQueueLength), counts: now, end, sessions: node.sessions.stats } });
  };
  const statusLoop = (async () => {
    while (!finishing) {
      await status();
      await sleep(statusEveryMs);
    }
  })();

  const sendLoop = (async () => {
    const random = seededRandom(options.seed ^ process.pid);
    for (let request = 1; !finishing; request += 1) {
      const sent = (await counts()).sent;
      const open = peers.filter((peer) => (sent[peer] ?? 0) < options.messagesPerPeer);
      if (open.length === 0) break;
      const peer = open[Math.floor(random() * open.length)] as string;
      const size = Math.min(1 + Math.floor(random() * 5), options.messagesPerPeer - (sent[peer] ?? 0));
      // The tag names this process: output of a crank that a kill rolled back carries a tag no committed record has.
      await kernel.call(party, 'send', [peer, size, `${name}.${process.pid}.${request}`]);
      await sleep(options.paceMs);
    }
    sendingDone = true;
  })();

  let reportWanted = false;
  for await (const command of createInterface({ input: process.stdin })) {
    if (command === 'report' || command === 'stop') {
      reportWanted = command === 'report';
      break;
    }
    options.logger.warn({ command }, 'unknown command on stdin (expected report or stop)');
  }
  // A command, or stdin closed because the runner is gone. Reading stdin
  // would keep this process alive after the node stops.
  process.stdin.destroy();
  finishing = true;
  await Promise.all([statusLoop, sendLoop]);
  if (reportWanted) {
    const report = (await kernel.call(party, 'report')) as PartyReport;
    write({ report, end: nodeEndOf(name, node.store, (peerId) => nameOfPeerId.get(peerId) ?? peerId) });
  }
  await node.stop();
}
