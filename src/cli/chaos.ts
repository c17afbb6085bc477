import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { runChaosNode } from '../chaos/chaosNode.js';
import { runProcessChaos, type ChaosTransport } from '../chaos/runner.js';
import { parseCrashArming } from '../fault/crashPoints.js';
import { noFaults, type FaultRates } from '../net/faultyTransport.js';
import { describeSummary, mixedWorkloadOf, sweep } from '../sim/sweep.js';
import type { Durability } from '../store/index.js';
import { makeLogger, type LogLevel } from '../util/logger.js';
import { vatRuntimes, type VatRuntime } from '../vats/vatInstance.js';
import { durability, duration, fraction, logLevel, positiveInteger, seedRange, transportKind, vatRuntime, wholeNumber } from './options.js';

interface ChaosOptions {
  nodes: number;
  messages: number;
  seed?: number;
  seeds?: { from: number; to: number };
  simulate?: boolean;
  killEvery: number;
  minKills: number;
  transport: ChaosTransport;
  partitionRate?: number;
  dropRate?: number;
  durability: Durability;
  runtime?: VatRuntime;
  sendOnly?: boolean;
  mixed?: boolean;
  report: string;
  dir?: string;
  keep?: boolean;
}

/**
 * `ken-node chaos`: fault injection as a product. With `--simulate`, whole
 * clusters in one process on virtual time (replayable from the seed);
 * without, real node processes over libp2p on loopback with SIGKILLs and a
 * proxy on every link. Either way: progress, a verdict from the checker, a
 * JSON report, and exit code 1 on any violation.
 */
export function chaosCommand(): Command {
  return new Command('chaos')
    .description(
      'run a fault-injection test and check exactly-once delivery: --simulate for a deterministic in-process cluster ' +
        '(faults and crashes from the seed; the same seed replays the same history), otherwise real node processes ' +
        'over libp2p on loopback, SIGKILLed at random, each link through a fault proxy; prints progress and a verdict, ' +
        'writes a JSON report, exits 1 on any violation',
    )
    .option('--nodes <n>', 'nodes in the cluster (2 or more)', positiveInteger, 3)
    .option('--messages <n>', 'messages over all pairs of nodes', positiveInteger, 300)
    .option('--seed <n>', 'the seed (default: a random one, printed)', wholeNumber)
    .option('--seeds <A..B>', 'a sweep: every seed from A to B', seedRange)
    .option('--simulate', 'a deterministic simulation in this process instead of real processes')
    .option('--kill-every <duration>', 'processes: mean time between SIGKILLs, e.g. 3s', duration, 3000)
    .option('--min-kills <n>', 'processes: go on killing, after the sends are done, until this many SIGKILLs', wholeNumber, 1)
    .option('--transport <kind>', 'processes: tcp or ws', transportKind, 'tcp')
    .option('--partition-rate <p>', 'processes: chance per second of a link partition; simulate: chance a frame is held back', fraction)
    .option('--drop-rate <p>', 'processes: chance per second of a connection reset or cut; simulate: chance a frame is lost', fraction)
    .option('--durability <mode>', 'processes: fsync or process', durability, 'fsync')
    .option('--runtime <runtime>', `simulate: the party vats' runtime, ${vatRuntimes.join(' or ')} (default: liveslots)`, vatRuntime)
    .option('--send-only', 'simulate: the parties send with E.sendOnly (no results) instead of E()')
    .option('--mixed', 'simulate: each seed\'s runtime and send-only drawn from the seed, as the sweep of npm test does')
    .option('--report <file>', 'where the JSON report goes', 'chaos-report.json')
    .option('--dir <dir>', 'processes: the run directory (default: a new temporary one)')
    .option('--keep', 'keep the run directory (stores, URLs, node logs) even when the run passes')
    .action(async (options: ChaosOptions, command: Command) => {
      // command.error prints the message with the help hint and exits with code 2.
      if (options.nodes < 2) command.error(`error: --nodes: expected 2 or more, got ${options.nodes}`, { exitCode: 2 });
      if (options.seed !== undefined && options.seeds !== undefined) command.error('error: give --seed or --seeds, not both', { exitCode: 2 });
      if (options.mixed === true && (options.runtime !== undefined || options.sendOnly === true)) {
        command.error('error: --mixed draws each seed\'s runtime and send-only: give it without --runtime and --send-only', { exitCode: 2 });
      }
      if (options.simulate !== true && (options.mixed === true || options.runtime !== undefined || options.sendOnly === true)) {
        command.error('error: --runtime, --send-only and --mixed are for --simulate', { exitCode: 2 });
      }
      const seeds = seedsOf(options);
      const code = options.simulate === true ? await simulate(options, seeds) : await processes(options, seeds);
      process.exitCode = code;
    });
}

function seedsOf(options: ChaosOptions): number[] {
  if (options.seeds !== undefined) return Array.from({ length: options.seeds.to - options.seeds.from + 1 }, (_, index) => (options.seeds?.from ?? 0) + index);
  return [options.seed ?? Math.floor(Math.random() * 2 ** 31)];
}

const say = (line: string) => process.stderr.write(`${line}\n`);

async function simulate(options: ChaosOptions, seeds: number[]): Promise<number> {
  // Rates given on the command line replace the ones each seed would draw.
  const rates: FaultRates | undefined =
    options.dropRate === undefined && options.partitionRate === undefined
      ? undefined
      : { ...noFaults, maxDelayMs: 30, drop: options.dropRate ?? 0, delay: options.partitionRate ?? 0, duplicate: 0.02, reset: 0.01 };
  const root = mkdtempSync(path.join(tmpdir(), 'ken-chaos-sim-'));
  const started = Date.now();
  try {
    const runtime = options.runtime ?? 'liveslots';
    const workload = options.mixed === true ? 'workload from each seed' : `${runtime} vats${options.sendOnly === true ? ', send-only' : ''}`;
    say(`chaos --simulate: ${seeds.length} seed(s) from ${seeds[0]}, ${options.nodes} nodes, ${options.messages} messages requested over the cluster, ${workload}`);
    const base = { nodes: options.nodes, messages: options.messages, rates };
    const settings = (seed: number) =>
      options.mixed === true ? { ...base, ...mixedWorkloadOf(seed) } : { ...base, runtime, sendOnly: options.sendOnly === true };
    const summary = await sweep(root, seeds, settings, (result, sofar) => {
      const verdict = result.violations.length === 0 ? 'ok' : `${result.violations.length} VIOLATIONS`;
      if (seeds.length === 1 || sofar.seeds % 50 === 0 || result.violations.length > 0) {
        say(
          `seed ${result.seed}: ${verdict}; ${result.counts.messages} messages, ${result.counts.kills} kills, ` +
            `${Object.values(result.counts.crashes).reduce((sum, count) => sum + count, 0)} crashes, drained ${result.drainedAfterMs ?? 'never'} ms after the heal, history ${result.digest.slice(0, 16)} ` +
            `(${sofar.seeds}/${seeds.length} seeds, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
        );
      }
    });
    writeReport(options.report, { kind: 'simulation', nodes: options.nodes, messagesPerSeed: options.messages, workload, seedRange: { from: seeds[0], to: seeds.at(-1) }, ...summary });
    for (const failure of summary.failures) {
      for (const { violation, history } of failure.violations) {
        say(`VIOLATION seed ${failure.seed} ${violation.guarantee}: ${violation.message}\n  ${history.join('\n  ')}`);
      }
    }
    say(describeSummary(summary));
    say(`verdict: ${summary.failures.length === 0 ? 'exactly-once held' : 'VIOLATED'}; report ${path.resolve(options.report)}`);
    return summary.failures.length === 0 ? 0 : 1;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function processes(options: ChaosOptions, seeds: number[]): Promise<number> {
  const reports = [];
  let failed = false;
  for (const seed of seeds) {
    const runDir = options.dir === undefined ? mkdtempSync(path.join(tmpdir(), `ken-chaos-${seed}-`)) : path.join(options.dir, String(seed));
    mkdirSync(runDir, { recursive: true });
    const report = await runProcessChaos({
      nodes: options.nodes,
      messages: options.messages,
      seed,
      killEveryMs: options.killEvery,
      minKills: options.minKills,
      armedShare: 0.3,
      label: 'chaos',
      transport: options.transport,
      partitionRate: options.partitionRate ?? 0.2,
      dropRate: options.dropRate ?? 0.2,
      durability: options.durability,
      runDir,
      drainTimeoutMs: 60_000,
      maxChaosMs: 10 * 60_000,
      progress: say,
    });
    reports.push(report);
    for (const { violation, history } of report.violations) {
      say(`VIOLATION seed ${seed} ${violation.guarantee}: ${violation.message}\n  ${history.join('\n  ')}`);
    }
    say(
      `seed ${seed}: ${report.verdict}; ${report.messages} messages, ${report.kills} kills, ${report.armedRestarts} restarts armed with a crash point (${report.crashes} reached it), ` +
        `${report.partitions} partitions, ${report.resets} resets/cuts, ${report.stalls} stalls; drained ${report.drainMs === undefined ? 'NEVER' : `${(report.drainMs / 1000).toFixed(1)} s`} after the heal`,
    );
    const passed = report.verdict === 'exactly-once';
    failed ||= !passed;
    if (passed && options.keep !== true && options.dir === undefined) rmSync(runDir, { recursive: true, force: true });
    else say(`run directory kept: ${runDir}`);
  }
  writeReport(options.report, seeds.length === 1 ? reports[0] : { kind: 'processes-sweep', runs: reports });
  say(`verdict: ${failed ? 'VIOLATED' : 'exactly-once held'}; report ${path.resolve(options.report)}`);
  return failed ? 1 : 0;
}

function writeReport(file: string, report: unknown): void {
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}

interface ChaosNodeFlags {
  name: string;
  dataDir: string;
  runDir: string;
  listen: string[];
  peers: string;
  messagesPerPeer: number;
  seed: number;
  crashAt?: string;
  durability: Durability;
  paceMs: number;
  logLevel: LogLevel;
}

/** `ken-node chaos-node`: one node of a real-process chaos run; `ken-node chaos` starts these. */
export function chaosNodeCommand(): Command {
  return new Command('chaos-node')
    .description('run one node of a `ken-node chaos` cluster (the chaos runner starts these; JSON lines on stdout, `report` or `stop` on stdin)')
    .requiredOption('--name <name>', 'this node\'s name (n1, n2, ...)')
    .requiredOption('--data-dir <dir>', 'its store directory (resumes from it)')
    .requiredOption('--run-dir <dir>', 'the run directory shared with the runner')
    .requiredOption('--listen <multiaddr...>', 'libp2p listen addresses (loopback)')
    .requiredOption('--peers <names>', 'the other nodes, comma-separated')
    .option('--messages-per-peer <n>', 'messages to send each peer', positiveInteger, 100)
    .option('--seed <n>', 'the workload seed', wholeNumber, 0)
    .option('--crash-at <point:k>', 'die (SIGKILL) at the k-th passing of a crash point')
    .option('--durability <mode>', 'fsync or process', durability, 'fsync')
    .option('--pace-ms <ms>', 'pause between send requests', wholeNumber, 10)
    .option('--log-level <level>', 'debug, info, warn, error or silent', logLevel, 'warn')
    .action(async (flags: ChaosNodeFlags) => {
      const peers = flags.peers.split(',').filter((peer) => peer !== '');
      await runChaosNode(
        {
          name: flags.name,
          dataDir: flags.dataDir,
          runDir: flags.runDir,
          listen: flags.listen,
          peers,
          messagesPerPeer: flags.messagesPerPeer,
          seed: flags.seed,
          crashAt: flags.crashAt === undefined ? undefined : parseCrashArming(flags.crashAt),
          durability: flags.durability,
          paceMs: flags.paceMs,
          logger: makeLogger({ level: flags.logLevel, name: flags.name }),
        },
        (line) => process.stdout.write(`${JSON.stringify(line)}\n`),
      );
    });
}
