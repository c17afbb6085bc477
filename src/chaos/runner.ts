import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkRun, historyFor, type NodeEnd, type PartyReport, type Violation } from '../fault/checker.js';
import { crashPointNames } from '../fault/crashPoints.js';
import { TcpProxy } from '../fault/tcpProxy.js';
import { formatOcapUrl, parseOcapUrl } from '../remote/ocapUrl.js';
import type { Durability } from '../store/index.js';
import { packageRoot } from '../util/packageRoot.js';
import { freePort } from '../util/ports.js';
import { seededRandom } from '../util/random.js';
import { waitForFile } from '../util/waitForFile.js';
import { chaosFiles, type ChaosNodeLine, type ChaosStatus } from './protocol.js';

export type ChaosTransport = 'tcp' | 'ws';

export interface ProcessChaosOptions {
  nodes: number;
  /** Messages over all ordered pairs; each pair gets an equal share (at least 1). */
  messages: number;
  seed: number;
  /** Mean time between SIGKILLs of a random node. */
  killEveryMs: number;
  transport: ChaosTransport;
  /** Chance per second that a link is partitioned (both ways, or one way) for 0.3-2 s. */
  partitionRate: number;
  /** Chance per second that a link's connections are reset, or cut mid-frame. */
  dropRate: number;
  durability: Durability;
  /** An empty directory for the run: stores, URLs, node logs. */
  runDir: string;
  /** After the heal, every outbox must be empty within this long (G5). */
  drainTimeoutMs: number;
  /** The chaos phase goes on, even after every node has sent its share, until this many SIGKILLs. */
  minKills: number;
  /** No more SIGKILLs after this many (undefined: no limit). */
  maxKills?: number;
  /** The chance that a restart is armed with a random crash point. */
  armedShare: number;
  /** Progress lines start with this word (`chaos`, `demo`). */
  label: string;
  /** The chaos phase ends at this age even if sending has not finished. */
  maxChaosMs: number;
  progress: (line: string) => void;
}

export interface ProcessChaosReport {
  kind: 'processes';
  seed: number;
  nodes: number;
  transport: ChaosTransport;
  messages: number;
  kills: number;
  /** Restarts armed with a crash point (the node killed itself there, if it got that far). */
  armedRestarts: number;
  /** Processes that killed themselves at their armed crash point. */
  crashes: number;
  partitions: number;
  resets: number;
  stalls: number;
  /** Frames resent to peers, summed over every process of every node. */
  retransmits: number;
  /** Per restart: how long from launching the process until it ran again (store opened, vats restarted, peers redeemed). */
  recoveries: { node: string; ms: number }[];
  chaosMs: number;
  /** From the heal until every node was drained; undefined if that never happened. */
  drainMs: number | undefined;
  violations: { violation: Violation; history: string[] }[];
  verdict: 'exactly-once' | 'violated';
}

const bin = path.join(packageRoot, 'bin', 'ken-node.js');
const startTimeoutMs = 60_000;

interface NodeProcess {
  name: string;
  port: number;
  child: ChildProcess | undefined;
  /** The current process's last status; undefined until it gives one. */
  status: ChaosStatus | undefined;
  /** The last status of any of its processes, for progress lines (a count does not drop while a node restarts). */
  lastStatus: ChaosStatus | undefined;
  /** Lines of the last child's stdout that were not status: the report. */
  reported: Extract<ChaosNodeLine, { report: PartyReport }> | undefined;
  exited: Promise<void>;
  restartAt: number | undefined;
  launchedAt: number;
  /** A restarted process that has not yet given its first status. */
  recovering: boolean;
  /** Retransmits counted by this node's earlier processes. */
  retransmitsBefore: number;
}

/**
 * Real-process chaos: N node processes over libp2p on loopback, every link
 * through a {@link TcpProxy} the runner drives (partitions, resets, cuts
 * mid-frame, stalls), random SIGKILLs with restarts (some armed with a
 * crash point), then heal, drain, and the checker's verdict.
 */
export async function runProcessChaos(options: ProcessChaosOptions): Promise<ProcessChaosReport> {
  const { nodes: count, runDir, progress } = options;
  if (!Number.isSafeInteger(count) || count < 2) throw new RangeError(`chaos needs 2 or more nodes, got ${count}`);
  const random = seededRandom(options.seed);
  const files = chaosFiles(runDir);
  const names = Array.from({ length: count }, (_, index) => `n${index + 1}`);
  const messagesPerPeer = Math.max(1, Math.round(options.messages / (count * (count - 1))));
  const history: string[] = [];
  const started = Date.now();
  const note = (text: string) => history.push(`t=${((Date.now() - started) / 1000).toFixed(3)} ${text}`);
  const report: ProcessChaosReport = {
    kind: 'processes',
    seed: options.seed,
    nodes: count,
    transport: options.transport,
    messages: messagesPerPeer * count * (count - 1),
    kills: 0,
    armedRestarts: 0,
    crashes: 0,
    partitions: 0,
    resets: 0,
    stalls: 0,
    retransmits: 0,
    recoveries: [],
    chaosMs: 0,
    drainMs: undefined,
    violations: [],
    verdict: 'violated',
  };
  const nodes: NodeProcess[] = [];
  const proxies = new Map<string, TcpProxy>();
  mkdirSync(path.dirname(files.log('x')), { recursive: true });

  const listenOf = (port: number) => `/ip4/127.0.0.1/tcp/${port}${options.transport === 'ws' ? '/ws' : ''}`;
  const launch = (node: NodeProcess, crashAt?: string): ChildProcess => {
    const args = [bin, 'chaos-node', '--name', node.name, '--data-dir', files.dataDir(node.name), '--run-dir', runDir];
    args.push('--listen', listenOf(node.port), '--peers', names.filter((name) => name !== node.name).join(','));
    args.push('--messages-per-peer', String(messagesPerPeer), '--seed', String(options.seed), '--durability', options.durability);
    if (crashAt !== undefined) args.push('--crash-at', crashAt);
    const log = openSync(files.log(node.name), 'a');
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', log] });
    closeSync(log);
    node.retransmitsBefore += node.status?.sessions.retransmits ?? 0;
    node.recovering = node.launchedAt > 0;
    node.launchedAt = Date.now();
    node.child = child;
    node.status = undefined;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let parsed: ChaosNodeLine;
      try {
        parsed = JSON.parse(line) as ChaosNodeLine;
      } catch {
        return; // not ours (a library printing to stdout)
      }
      if ('status' in parsed) {
        node.status = parsed.status;
        node.lastStatus = parsed.status;
        if (node.recovering) {
          node.recovering = false;
          const ms = Date.now() - node.launchedAt;
          report.recoveries.push({ node: node.name, ms });
          progress(`${options.label}: ${node.name} runs again, ${(ms / 1000).toFixed(2)} s after its restart`);
        }
      }
      else node.reported = parsed;
    });
    child.stdin?.on('error', () => {}); // a killed child's stdin
    node.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void node.exited.then(() => {
      if (node.child === child) node.child = undefined;
    });
    return child;
  };

  try {
    for (const name of names) {
      const node: NodeProcess = { name, port: await freePort(), child: undefined, status: undefined, lastStatus: undefined, reported: undefined, exited: Promise.resolve(), restartAt: undefined, launchedAt: 0, recovering: false, retransmitsBefore: 0 };
      nodes.push(node);
      launch(node);
    }
    progress(`${options.label}: ${count} node processes over ${options.transport}, ${report.messages} messages (${messagesPerPeer} per ordered pair), seed ${options.seed}; run directory ${runDir}`);

    // Every link through a proxy: A dials B at the proxy in front of B.
    const urls = new Map<string, string>();
    for (const node of nodes) urls.set(node.name, await waitForFile(files.url(node.name), startTimeoutMs, () => node.child === undefined));
    for (const from of nodes) {
      for (const to of nodes) {
        if (from === to) continue;
        const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: to.port } });
        proxies.set(`${from.name}->${to.name}`, proxy);
        const url = parseOcapUrl(urls.get(to.name) ?? '');
        const addresses = [`${listenOf(proxy.port)}/p2p/${url.peerId}`];
        const target = files.peerUrl(from.name, to.name);
        mkdirSync(path.dirname(target), { recursive: true });
        writeFileSync(`${target}.tmp`, formatOcapUrl({ ...url, addresses }));
        renameSync(`${target}.tmp`, target); // the node never reads half a URL
      }
    }

    // The chaos phase: kills, restarts, link faults, until every node has sent its share.
    const chaosStarted = Date.now();
    let nextKillAt = chaosStarted + jitter(random, options.killEveryMs);
    let lastProgress = 0;
    const heals: { at: number; undo: () => void }[] = [];
    while (Date.now() - chaosStarted < options.maxChaosMs) {
      const now = Date.now();
      // Done sending is durable (the party's committed counts): once any process of a node said so, it stays so.
      if (report.kills >= options.minKills && nodes.every((node) => node.lastStatus?.sendingDone === true)) break;
      if (now >= nextKillAt && report.kills < (options.maxKills ?? Infinity)) {
        nextKillAt = now + jitter(random, options.killEveryMs);
        const running = nodes.filter((node) => node.child !== undefined && node.restartAt === undefined);
        const victim = running[Math.floor(random() * running.length)];
        if (victim?.child !== undefined) {
          victim.child.kill('SIGKILL');
          report.kills += 1;
          victim.restartAt = now + 100 + Math.floor(random() * 900);
          note(`kill ${victim.name} (pid ${victim.child.pid})`);
          progress(`${options.label}: SIGKILL ${victim.name}`);
        }
      }
      for (const node of nodes) {
        if (node.restartAt !== undefined && now >= node.restartAt) {
          await node.exited;
          node.restartAt = undefined;
          let crashAt: string | undefined;
          if (random() < options.armedShare) {
            crashAt = `${crashPointNames[Math.floor(random() * crashPointNames.length)]}:${1 + Math.floor(random() * 20)}`;
            report.armedRestarts += 1;
          }
          note(`restart ${node.name}${crashAt === undefined ? '' : ` armed at ${crashAt}`}`);
          launch(node, crashAt);
        } else if (node.child === undefined && node.restartAt === undefined) {
          // It killed itself at an armed crash point.
          node.restartAt = now + 100 + Math.floor(random() * 400);
          report.crashes += 1;
          note(`crash ${node.name} (exited by itself)`);
        }
      }
      linkFaults(random, options, [...proxies.entries()], heals, report, note);
      for (const heal of heals.filter((entry) => entry.at <= now)) {
        heal.undo();
        heals.splice(heals.indexOf(heal), 1);
      }
      if (now - lastProgress >= 1000) {
        lastProgress = now;
        progress(`${options.label}: ${secondsSince(chaosStarted)} ${describeProgress(nodes, report)}`);
      }
      await sleep(50);
    }
    report.chaosMs = Date.now() - chaosStarted;

    // Heal: every link passes, every node runs, nobody is killed any more.
    note('heal');
    for (const proxy of proxies.values()) proxy.setMode('pass');
    for (const node of nodes) {
      if (node.child === undefined) {
        await node.exited;
        node.restartAt = undefined;
        note(`restart ${node.name}`);
        launch(node);
      }
    }
    progress(`${options.label}: healed after ${secondsSince(chaosStarted)}; draining (at most ${options.drainTimeoutMs / 1000} s)`);
    const healedAt = Date.now();
    for (;;) {
      for (const node of nodes) if (node.child === undefined) launch(node); // an armed point may still fire
      const done = nodes.every((node) => node.status?.sendingDone === true && node.status.drained && node.status.end.unsettledFromPeers === 0);
      if (done) {
        report.drainMs = Date.now() - healedAt;
        break;
      }
      if (Date.now() - healedAt > options.drainTimeoutMs) break;
      if (Date.now() - lastProgress >= 1000) {
        lastProgress = Date.now();
        progress(`${options.label}: draining ${secondsSince(healedAt)} ${describeProgress(nodes, report)}`);
      }
      await sleep(50);
    }

    // The verdict, from what each node committed.
    const reports: PartyReport[] = [];
    const ends: NodeEnd[] = [];
    for (const node of nodes) {
      node.reported = undefined;
      node.child?.stdin?.write('report\n');
    }
    const reportDeadline = Date.now() + startTimeoutMs;
    while (Date.now() < reportDeadline && nodes.some((node) => node.reported === undefined)) {
      for (const node of nodes) {
        if (node.child !== undefined || node.reported !== undefined) continue;
        // An armed crash point fired late: the store has what it committed; ask the next process.
        note(`restart ${node.name} to report`);
        launch(node).stdin?.write('report\n');
      }
      await sleep(50);
    }
    for (const node of nodes) {
      if (node.reported === undefined) {
        report.violations.push({
          violation: { guarantee: 'G5', from: node.name, message: `${node.name} did not report (see ${files.log(node.name)})`, tags: [] },
          history: [],
        });
        continue;
      }
      reports.push(node.reported.report);
      ends.push(node.reported.end);
    }
    if (report.drainMs === undefined) note(`not drained within ${options.drainTimeoutMs / 1000} s`);
    for (const violation of checkRun(reports, ends)) report.violations.push({ violation, history: historyFor(violation, history) });
    report.retransmits = nodes.reduce((sum, node) => sum + node.retransmitsBefore + (node.status?.sessions.retransmits ?? 0), 0);
    report.verdict = report.violations.length === 0 ? 'exactly-once' : 'violated';
    return report;
  } finally {
    for (const node of nodes) node.child?.kill('SIGKILL');
    await Promise.all(nodes.map((node) => node.exited));
    await Promise.all([...proxies.values()].map((proxy) => proxy.close()));
  }
}

/** One tick's chance of a fault on some link: partitions, resets, cuts mid-frame, stalls; each undone later. */
function linkFaults(
  random: () => number,
  options: ProcessChaosOptions,
  links: [string, TcpProxy][],
  heals: { at: number; undo: () => void }[],
  report: ProcessChaosReport,
  note: (text: string) => void,
): void {
  const tickSeconds = 0.05;
  const pick = () => links[Math.floor(random() * links.length)] as [string, TcpProxy];
  const now = Date.now();
  if (random() < options.partitionRate * tickSeconds) {
    const [name, proxy] = pick();
    const [from, to] = name.split('->');
    const reverse = links.find(([other]) => other === `${to}->${from}`)?.[1];
    const oneWay = random() < 0.5;
    proxy.setMode('drop');
    if (!oneWay) reverse?.setMode('drop');
    report.partitions += 1;
    note(`partition ${name}${oneWay ? ' one-way' : ' both ways'}`);
    heals.push({
      at: now + 300 + Math.floor(random() * 1700),
      undo: () => {
        proxy.setMode('pass');
        reverse?.setMode('pass');
        note(`heal ${name}`);
      },
    });
  }
  if (random() < options.dropRate * tickSeconds) {
    const [name, proxy] = pick();
    if (random() < 0.5) {
      proxy.resetAll();
      note(`reset ${name}`);
    } else {
      const bytes = 1 + Math.floor(random() * 300);
      proxy.truncateAfter(bytes);
      note(`cut ${name} after ${bytes} bytes`);
    }
    report.resets += 1;
  }
  if (random() < options.dropRate * tickSeconds) {
    const [name, proxy] = pick();
    proxy.setMode('stall');
    report.stalls += 1;
    note(`stall ${name}`);
    heals.push({ at: now + 200 + Math.floor(random() * 800), undo: () => proxy.setMode('pass') });
  }
}

function describeProgress(nodes: NodeProcess[], report: ProcessChaosReport): string {
  let sent = 0;
  let received = 0;
  let outbox = 0;
  for (const node of nodes) {
    const status = node.lastStatus;
    if (status === undefined) continue;
    for (const count of Object.values(status.counts.sent)) sent += count;
    for (const count of Object.values(status.counts.received)) received += count;
    for (const depth of Object.values(status.end.outboxDepth)) outbox += depth;
  }
  const down = nodes.filter((node) => node.child === undefined).map((node) => node.name);
  const faults = report.partitions + report.resets + report.stalls > 0 ? `, partitions ${report.partitions}, resets ${report.resets}` : '';
  return `sent ${sent}/${report.messages}, consumed ${received}, outbox ${outbox}; kills ${report.kills}${faults}${down.length > 0 ? `; down: ${down.join(' ')}` : ''}`;
}

const secondsSince = (at: number) => `${((Date.now() - at) / 1000).toFixed(1)}s`;

/** A delay around `mean`: from half to one and a half times it. */
const jitter = (random: () => number, mean: number) => Math.round(mean * (0.5 + random()));
