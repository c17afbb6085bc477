import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import { askNode } from '../admin/client.js';
import { readAdminEndpoint } from '../admin/endpointFile.js';
import { dataDirFiles, type DataDirFiles } from '../config/dataDir.js';
import { readableLogLine } from '../util/logFormat.js';
import { packageRoot } from '../util/packageRoot.js';
import { positiveInteger, transportKind, wholeNumber, type TransportKind } from './options.js';

interface ClusterOptions {
  dir: string;
  nodes: number;
  basePort: number;
  transport: TransportKind;
  bootstrap: string;
}

interface ClusterNode {
  name: string;
  files: DataDirFiles;
  child: ChildProcess;
  exited: Promise<number | null>;
}

const bin = path.join(packageRoot, 'bin', 'ken-node.js');
const defaultBootstrap = path.join(packageRoot, 'examples', 'node', 'counter.js');
const readyTimeoutMs = 60_000;
const stopTimeoutMs = 30_000;
const say = (line: string) => process.stderr.write(`${line}\n`);

/**
 * `ken-node cluster`: N nodes on this machine, each a `ken-node start`
 * child process with its own data directory, listening on 127.0.0.1 and
 * introduced to each other; their logs, prefixed with their names, on
 * stderr. SIGINT or SIGTERM stops them all cleanly. Run again on the same
 * directory, it starts the same nodes from their stores.
 */
export function clusterCommand(): Command {
  return new Command('cluster')
    .description(
      'run N local nodes as child processes on 127.0.0.1, each with its own data directory under --dir (made with ' +
        '`ken-node init` the first time), introduce every node to every other (POST /peers), and tail their logs. ' +
        'Stop with SIGINT or SIGTERM: each node stops cleanly; exit 0 if all did',
    )
    .requiredOption('--dir <dir>', 'the cluster directory: one data directory per node (n1, n2, ...)')
    .option('--nodes <n>', 'how many nodes', positiveInteger, 3)
    .option('--base-port <port>', 'node n1 listens on this port, n2 on the next, ... (first run only)', port, 4001)
    .option('--transport <kind>', 'tcp or ws (first run only)', transportKind, 'tcp')
    .option('--bootstrap <file>', 'the bootstrap vat module (first run only); it must have hasPeer and addPeer', defaultBootstrap)
    .addHelpText('after', '\nExit codes: 0 every node stopped cleanly; 1 a node failed to start or to stop; 2 bad usage.')
    .action(async (options: ClusterOptions) => {
      process.exitCode = await runCluster(options);
    });
}

function port(value: string): number {
  const parsed = wholeNumber(value);
  if (parsed < 1 || parsed > 65535) throw new InvalidArgumentError(`expected a port from 1 to 65535, got ${JSON.stringify(value)}`);
  return parsed;
}

async function runCluster(options: ClusterOptions): Promise<number> {
  if (options.nodes < 2) {
    say(`ken-node: --nodes: expected 2 or more, got ${options.nodes}`);
    return 2;
  }
  if (options.basePort + options.nodes - 1 > 65535) {
    say(`ken-node: --base-port ${options.basePort} leaves no room for ${options.nodes} ports`);
    return 2;
  }
  const names = Array.from({ length: options.nodes }, (_, index) => `n${index + 1}`);
  for (const [index, name] of names.entries()) {
    const files = dataDirFiles(path.resolve(options.dir, name));
    if (existsSync(files.config)) continue;
    const listen = `/ip4/127.0.0.1/tcp/${options.basePort + index}${options.transport === 'ws' ? '/ws' : ''}`;
    const init = await runToEnd(['init', '--data-dir', files.directory, '--listen', listen, '--bootstrap', path.resolve(options.bootstrap)]);
    if (init.code !== 0) {
      say(`ken-node: init of ${name} failed (exit ${init.code}):\n${init.stderr}`);
      return 1;
    }
    say(`cluster: initialized ${name} in ${files.directory}, listening on ${listen}`);
  }

  const nodes = names.map((name) => launch(name, dataDirFiles(path.resolve(options.dir, name))));
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = () => {
      if (stopping) return;
      stopping = true;
      say('cluster: stopping every node (SIGTERM to each)');
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  for (const node of nodes) {
    void node.exited.then((code) => {
      if (!stopping) say(`cluster: ${node.name} exited on its own (code ${code}); the others go on`);
    });
  }

  try {
    await Promise.race([wire(nodes), stopped]);
  } catch (error) {
    say(`ken-node: the cluster did not come up: ${(error as Error).message}`);
    stopping = true;
    await stopAll(nodes);
    return 1;
  }
  if (!stopping) {
    say(`cluster: ready. ${nodes.length} nodes, each introduced to the others; logs follow. Try:`);
    say(`  ken-node call --data-dir ${nodes[1]?.files.directory} send '"n1"' 5`);
    say(`  ken-node call --data-dir ${nodes[0]?.files.directory} counts`);
    say(`  ken-node peers --data-dir ${nodes[0]?.files.directory}`);
    say('Stop with Ctrl-C.');
    await stopped;
  }
  return (await stopAll(nodes)) ? 0 : 1;
}

/** Runs a ken-node command to its end; its exit code and what it printed on stderr. */
function runToEnd(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

/** Starts `ken-node start` for one node, its output prefixed with its name. */
function launch(name: string, files: DataDirFiles): ClusterNode {
  // Its own process group: Ctrl-C in a terminal reaches the cluster alone,
  // which then sends one SIGTERM (a second signal would make a node exit at once).
  const child = spawn(process.execPath, [bin, 'start', '--data-dir', files.directory], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  for (const stream of [child.stdout, child.stderr]) {
    if (stream !== null) createInterface({ input: stream }).on('line', (line) => say(`${name.padEnd(3)} | ${readableLogLine(line)}`));
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, files, child, exited };
}

/** Waits until every node serves its admin endpoint, then introduces every node to every other. */
async function wire(nodes: ClusterNode[]): Promise<void> {
  const deadline = Date.now() + readyTimeoutMs;
  for (const node of nodes) {
    // admin.json names the process that wrote it: one left by a killed earlier run does not count.
    while (readAdminEndpoint(node.files.adminEndpoint)?.pid !== node.child.pid) {
      if (node.child.exitCode !== null) throw new Error(`${node.name} exited with code ${node.child.exitCode} while starting (its log is above)`);
      if (Date.now() > deadline) throw new Error(`${node.name} did not serve its admin endpoint within ${readyTimeoutMs / 1000} s`);
      await sleep(50);
    }
  }
  const urls = new Map<string, string>();
  for (const node of nodes) urls.set(node.name, ((await askNode(node.files, 'POST', '/url', {})) as { url: string }).url);
  await Promise.all(
    nodes.flatMap((node) =>
      nodes
        .filter((peer) => peer !== node)
        .map(async (peer) => {
          const answer = (await askNode(node.files, 'POST', '/peers', { name: peer.name, url: urls.get(peer.name) })) as { introduced: boolean };
          if (answer.introduced) say(`cluster: ${node.name} now knows ${peer.name}`);
        }),
    ),
  );
}

/** SIGTERM to every node still running; true if each one exited 0 within the bound (the rest get SIGKILL). */
async function stopAll(nodes: ClusterNode[]): Promise<boolean> {
  for (const node of nodes) if (node.child.exitCode === null) node.child.kill('SIGTERM');
  const codes = await Promise.all(
    nodes.map(async (node) => {
      const code = await Promise.race([node.exited, sleep(stopTimeoutMs, 'timeout' as const, { ref: false })]);
      if (code === 'timeout') {
        node.child.kill('SIGKILL');
        say(`cluster: ${node.name} did not stop within ${stopTimeoutMs / 1000} s: killed (its store holds the last commit)`);
        return false;
      }
      say(`cluster: ${node.name} stopped (exit ${code})`);
      return code === 0;
    }),
  );
  return codes.every(Boolean);
}
