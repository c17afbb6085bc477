import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { runProcessChaos, type ProcessChaosReport } from '../chaos/runner.js';
import { positiveInteger, wholeNumber } from './options.js';

interface ClusterDemoOptions {
  messages: number;
  seed?: number;
  keep?: boolean;
}

const nodes = 3;
const say = (line: string) => process.stderr.write(`${line}\n`);

/**
 * `ken-node cluster-demo` (what `npm start` runs): three node processes on
 * loopback exchange messages over libp2p TCP; one is SIGKILLed mid-run and
 * restarted; the checker gives the exactly-once verdict from what each node
 * committed. Nothing is left running and, on success, nothing on disk.
 */
export function clusterDemoCommand(): Command {
  return new Command('cluster-demo')
    .description(
      'the cluster demo (npm start): 3 node processes over libp2p TCP on 127.0.0.1, each with a party vat that sends ' +
        'numbered messages to the other two and keeps a durable record of what it sent and consumed; one node is ' +
        'SIGKILLed mid-run and restarted; ends with the exactly-once verdict and a table; exits 1 if violated',
    )
    .option('--messages <n>', 'messages over the whole cluster (an equal share per ordered pair of nodes)', positiveInteger, 1200)
    .option('--seed <n>', 'which node dies and when (default: a random seed, printed)', wholeNumber)
    .option('--keep', 'keep the run directory (stores, logs) even when the run passes')
    .action(async (options: ClusterDemoOptions) => {
      process.exitCode = await runClusterDemo(options);
    });
}

async function runClusterDemo(options: ClusterDemoOptions): Promise<number> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const runDir = mkdtempSync(path.join(tmpdir(), 'ken-cluster-demo-'));
  say(
    `ken-node cluster demo: ${nodes} nodes (n1, n2, n3), each a separate process with its own SQLite store, over libp2p TCP on 127.0.0.1.\n` +
      `Each node's party vat sends numbered messages to the party vats of the other two, and records durably what it sent and consumed.\n` +
      `Midway, one node is killed with SIGKILL and restarted from its store. Seed ${seed} (--seed ${seed} picks the same node and moment).`,
  );
  const started = Date.now();
  const report = await runProcessChaos({
    nodes,
    messages: options.messages,
    seed,
    // The kill comes 1-3 s into the sending, while messages are in flight both ways.
    killEveryMs: 2000,
    minKills: 1,
    maxKills: 1,
    armedShare: 0,
    transport: 'tcp',
    partitionRate: 0,
    dropRate: 0,
    durability: 'fsync',
    runDir,
    drainTimeoutMs: 30_000,
    maxChaosMs: 45_000,
    label: 'demo',
    progress: say,
  });
  const passed = report.verdict === 'exactly-once';
  for (const { violation, history } of report.violations) say(`VIOLATION ${violation.guarantee}: ${violation.message}\n  ${history.join('\n  ')}`);
  say(describeTable(report, Date.now() - started));
  if (passed && options.keep !== true) rmSync(runDir, { recursive: true, force: true });
  else say(`run directory kept: ${runDir}`);
  say(passed ? 'verdict: every message was consumed exactly once, in order, across the kill' : 'verdict: VIOLATED (see above)');
  return passed ? 0 : 1;
}

function describeTable(report: ProcessChaosReport, totalMs: number): string {
  const recovery = report.recoveries.map(({ node, ms }) => `${node} ran again ${(ms / 1000).toFixed(2)} s after its restart`).join('; ');
  const rows: [string, string][] = [
    ['messages', `${report.messages} sent and checked (${report.messages / (nodes * (nodes - 1))} per ordered pair)`],
    ['kills', `${report.kills} (SIGKILL)`],
    ['recovery', recovery || 'no restart'],
    ['retransmits', `${report.retransmits} frames resent until acked`],
    ['drain', report.drainMs === undefined ? 'NOT drained' : `every outbox empty ${(report.drainMs / 1000).toFixed(2)} s after the last send`],
    ['violations', String(report.violations.length)],
    ['time', `${(totalMs / 1000).toFixed(1)} s`],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`).join('\n');
}
