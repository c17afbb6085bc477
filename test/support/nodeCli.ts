import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import Database from 'better-sqlite3';
import { adminRequest, askNode, type AdminResponse } from '../../src/admin/client.js';
import { readAdminEndpoint } from '../../src/admin/endpointFile.js';
import { readAdminToken } from '../../src/admin/token.js';
import { dataDirFiles } from '../../src/config/dataDir.js';
import { packageRoot } from '../../src/util/packageRoot.js';
import { freePort } from '../../src/util/ports.js';
import { exitOf, spawnCli, type Exit } from './cli.js';
import { eventually } from './nodes.js';

/** The example bootstrap vat that counts the messages it receives. */
export const counterVat = path.join(packageRoot, 'examples', 'node', 'counter.js');

/** How long a one-shot command (init, status, url...) may take before the test gives up on it. */
const commandTimeoutMs = 60_000;

/** Node processes started by a test file, so that `afterEach` can kill what is left. */
export function nodeProcesses() {
  const children = new Set<ChildProcess>();
  return {
    /** Runs a one-shot command to its end (killed if it outlives {@link commandTimeoutMs}). */
    async run(args: string[], env: Record<string, string> = {}): Promise<Exit> {
      const child = spawnCli(args, env);
      children.add(child);
      const timer = setTimeout(() => child.kill('SIGKILL'), commandTimeoutMs);
      try {
        return await exitOf(child);
      } finally {
        clearTimeout(timer);
        children.delete(child);
      }
    },
    /** Launches `ken-node start --data-dir dir ...args` without waiting for it to serve (a start that is expected to hang). */
    launch(dir: string, args: string[] = [], env: Record<string, string> = {}): RunningNode {
      const child = spawnCli(['start', '--data-dir', dir, ...args], env);
      children.add(child);
      return { dir, child, exited: exitOf(child).finally(() => children.delete(child)) };
    },
    /** Starts `ken-node start --data-dir dir ...args`; resolves once its admin endpoint answers. */
    async start(dir: string, args: string[] = [], env: Record<string, string> = {}): Promise<RunningNode> {
      const { child, exited } = this.launch(dir, args, env);
      let exit: Exit | undefined;
      void exited.then((value) => (exit = value));
      await eventually(`the node on ${dir} to serve its admin endpoint`, async () => {
        if (exit !== undefined) throw new Error(`the node on ${dir} exited (${exit.code}) before it served:\n${exit.stderr}`);
        return (await statusOf(dir)) !== undefined;
      }, 60_000);
      return { dir, child, exited };
    },
    /** `init` on `dir`, listening on a free loopback port, with `bootstrap` (the counter vat unless given) as its bootstrap vat. */
    async init(dir: string, { bootstrap = counterVat, args = [] }: { bootstrap?: string; args?: string[] } = {}): Promise<Exit> {
      const port = await freePort();
      return this.run(['init', '--data-dir', dir, '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--bootstrap', bootstrap, ...args]);
    },
    /** The depth of the outbox of the node on `dir` to `peerId`, as `ken-node peers` shows it; undefined if it has no such peer. */
    async outboxTo(dir: string, peerId: string): Promise<number | undefined> {
      const peers = JSON.parse((await this.run(['peers', '--data-dir', dir])).stdout) as { peerId: string; outboxDepth: number }[];
      return peers.find((peer) => peer.peerId === peerId)?.outboxDepth;
    },
    killAll(): void {
      for (const child of children) child.kill('SIGKILL');
      children.clear();
    },
  };
}

export interface RunningNode {
  dir: string;
  child: ChildProcess;
  exited: Promise<Exit>;
}

/** GET /status from the node on `dir`, or undefined while nothing answers there (yet). */
async function statusOf(dir: string): Promise<unknown> {
  const files = dataDirFiles(dir);
  const endpoint = readAdminEndpoint(files.adminEndpoint);
  if (endpoint === undefined) return undefined;
  const response = await adminRequest(endpoint.url, readAdminToken(files.adminToken), 'GET', '/status').catch(() => undefined);
  return response?.status === 200 ? response.body : undefined;
}

/** A request to the running node on `dir` with its token; throws unless 2xx. */
export function ask(dir: string, method: 'GET' | 'POST', route: string, body?: unknown): Promise<unknown> {
  return askNode(dataDirFiles(dir), method, route, body);
}

/** A request to the running node on `dir` with the given Authorization token (or none): the raw answer. */
export function askWithToken(dir: string, token: string | undefined, method: 'GET' | 'POST', route: string, body?: unknown): Promise<AdminResponse> {
  const endpoint = readAdminEndpoint(dataDirFiles(dir).adminEndpoint);
  if (endpoint === undefined) throw new Error(`no admin endpoint on ${dir}`);
  return adminRequest(endpoint.url, token, method, route, body);
}

/** What the counter vat (examples/node/counter.js) says of itself. */
export interface Counts {
  peers: string[];
  sent: Record<string, number>;
  received: number;
}

export async function countsOf(dir: string): Promise<Counts> {
  return ((await ask(dir, 'POST', '/call', { method: 'counts' })) as { result: Counts }).result;
}

/** The value of one sample in Prometheus text, e.g. `ken_outbox_depth{peer="12D3..."}`; undefined if absent. */
export function sample(metrics: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const labelText = Object.entries(labels).map(([key, value]) => `${key}="${value}"`).join(',');
  const prefix = labelText === '' ? `${name} ` : `${name}{${labelText}} `;
  const line = metrics.split('\n').find((candidate) => candidate.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

/** What `read` finds in the store of the node on `dir`, read-only: its committed state (the node may run). */
export function readStore<T>(dir: string, read: (db: Database.Database) => T): T {
  const db = new Database(dataDirFiles(dir).store, { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}
