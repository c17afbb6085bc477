import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { cliProgram } from '../../src/cli/main.js';
import { packageRoot } from '../../src/util/packageRoot.js';
import { exitOf, spawnCli, type Exit } from '../support/cli.js';
import { countsOf } from '../support/nodeCli.js';
import { eventually, tempDirs } from '../support/nodes.js';
import { freePort } from '../../src/util/ports.js';

/**
 * No Docker engine runs here: these tests read docker-compose.yml, the
 * Dockerfile and the node script they run, and hold every command, flag
 * and variable in them to what the CLI accepts.
 */

interface Service {
  build: string;
  entrypoint: string[];
  command: string[];
  environment: Record<string, string>;
  ports: string[];
  volumes: string[];
  networks: Record<string, { ipv4_address: string }>;
}

const read = (file: string) => readFileSync(path.join(packageRoot, file), 'utf8');
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = Object.entries(compose.services);
/** The image has the repository at /app (Dockerfile: WORKDIR /app, COPY . .). */
const inRepository = (imagePath: string) => path.join(packageRoot, path.relative('/app', imagePath));

const program = await cliProgram();
const commandNamed = (name: string): Command | undefined => program.commands.find((command) => command.name() === name);
const knownVariables = new Set(program.commands.flatMap((command) => command.options.flatMap((option) => (option.envVar === undefined ? [] : [option.envVar]))));

/** Every `ken-node SUBCOMMAND ...` in a shell script: the subcommand and the flags it is given. */
function invocations(script: string): { line: string; subcommand: string; flags: string[] }[] {
  return script
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .flatMap((line) => [...line.matchAll(/ken-node ([a-z-]+)([^;&|>]*)/g)])
    .map((match) => ({ line: match[0], subcommand: match[1] as string, flags: [...(match[2] ?? '').matchAll(/--[a-z-]+/g)].map((flag) => flag[0]) }));
}

const dirs = tempDirs();
const scripts = new Set<ChildProcess>();
let scriptRoot: string | undefined;
afterEach(() => {
  for (const child of scripts) child.kill('SIGKILL');
  scripts.clear();
  // The nodes the scripts started in the background name the directory on their command lines.
  if (scriptRoot !== undefined) spawnSync('pkill', ['-KILL', '-f', scriptRoot]);
  scriptRoot = undefined;
});

describe('docker-compose.yml', () => {
  it('has three nodes, each with its own data volume, host port and address, all on the same network', () => {
    expect(services.map(([name]) => name)).toEqual(['n1', 'n2', 'n3']);
    const dataVolumes = services.map(([, service]) => service.volumes.find((volume) => volume.endsWith(':/data')));
    expect(new Set(dataVolumes).size).toBe(3);
    for (const volume of dataVolumes) expect(compose.volumes).toHaveProperty(String(volume?.split(':')[0]));
    expect(new Set(services.map(([, service]) => service.ports[0]?.split(':')[0])).size).toBe(3);
    expect(new Set(services.map(([, service]) => service.networks.ken?.ipv4_address)).size).toBe(3);
  });

  it('runs, in each node, a script that exists, and names the node and its peers by their service names', () => {
    for (const [name, service] of services) {
      expect(service.build).toBe('.');
      const script = inRepository(service.entrypoint[0] as string);
      expect(existsSync(script), script).toBe(true);
      accessSync(script, constants.X_OK);
      expect(service.command[0]).toBe(name);
      expect(new Set(service.command.slice(1))).toEqual(new Set(services.map(([other]) => other).filter((other) => other !== name)));
    }
  });

  it('sets only variables the CLI reads, and each node listens on its own network address', () => {
    for (const [, service] of services) {
      for (const variable of Object.keys(service.environment)) expect(knownVariables, variable).toContain(variable);
      expect(service.environment.KEN_LISTEN).toContain(`/ip4/${service.networks.ken?.ipv4_address}/tcp/`);
      expect(existsSync(inRepository(service.environment.KEN_BOOTSTRAP ?? '')), service.environment.KEN_BOOTSTRAP).toBe(true);
    }
  });

  it('gives settings that `ken-node init` accepts', async () => {
    for (const [name, service] of services) {
      const dataDir = path.join(dirs.make(`ken-compose-${name}-`), 'data');
      const environment = { ...service.environment, KEN_BOOTSTRAP: inRepository(service.environment.KEN_BOOTSTRAP ?? '') };
      const exit = await exitOf(spawnCli(['init', '--data-dir', dataDir], environment));
      expect(exit.code, exit.stderr).toBe(0);
      const config = JSON.parse(readFileSync(path.join(dataDir, 'ken-node.json'), 'utf8')) as { listen: string[] };
      expect(config.listen).toEqual([service.environment.KEN_LISTEN]);
    }
    dirs.cleanup();
  });
});

describe('the node script of the compose cluster', () => {
  const script = read('examples/docker/node.sh');

  it('calls only subcommands and flags the CLI has', () => {
    const calls = invocations(script);
    expect(calls.map((call) => call.subcommand)).toEqual(['init', 'start', 'status', 'url', 'peers']);
    for (const call of calls) {
      const command = commandNamed(call.subcommand);
      expect(command, call.line).toBeDefined();
      const flags = new Set(command?.options.map((option) => option.long));
      for (const flag of call.flags) expect(flags, `${call.line}: ${flag}`).toContain(flag);
    }
  });
});

describe('the node script, run outside a container', () => {
  it('brings two nodes up on loopback, introduces them to each other, and stops each cleanly on SIGTERM', async () => {
    const root = dirs.make('ken-compose-script-');
    scriptRoot = root;
    // `ken-node` on the PATH, as the image has it.
    const binDir = path.join(root, 'bin');
    mkdirSync(binDir);
    symlinkSync(path.join(packageRoot, 'bin', 'ken-node.js'), path.join(binDir, 'ken-node'));
    const urls = path.join(root, 'urls');
    mkdirSync(urls);
    const names = ['n1', 'n2'];
    const nodes: { name: string; dataDir: string; exited: Promise<Exit>; child: ChildProcess }[] = [];
    for (const name of names) {
      const dataDir = path.join(root, name);
      const environment = {
        ...process.env,
        PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ''}`,
        KEN_DATA_DIR: dataDir,
        KEN_URLS_DIR: urls,
        KEN_LISTEN: `/ip4/127.0.0.1/tcp/${await freePort()}`,
        KEN_BOOTSTRAP: path.join(packageRoot, 'examples', 'node', 'counter.js'),
        KEN_LOG_LEVEL: 'warn',
      };
      const child = spawn('sh', [path.join(packageRoot, 'examples', 'docker', 'node.sh'), name, ...names.filter((other) => other !== name)], {
        env: environment,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      scripts.add(child);
      nodes.push({ name, dataDir, exited: exitOf(child), child });
    }
    for (const [index, node] of nodes.entries()) {
      const peer = names[1 - index] as string;
      await eventually(`${node.name} to know ${peer}`, async () => (await countsOf(node.dataDir).catch(() => undefined))?.peers.includes(peer) === true, 90_000);
    }
    const send = await exitOf(spawnCli(['call', '--data-dir', nodes[1]?.dataDir as string, 'send', '"n1"', '3']));
    expect(send.code, send.stderr).toBe(0);
    await eventually('n1 to consume 3 messages from n2', async () => (await countsOf(nodes[0]?.dataDir as string)).received === 3, 30_000);
    for (const node of nodes) node.child.kill('SIGTERM');
    for (const node of nodes) {
      const exit = await node.exited;
      expect(exit.code, `${node.name}: ${exit.stderr}`).toBe(0);
    }
    dirs.cleanup();
  }, 180_000);
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');

  it('installs the CLI as ken-node, the entrypoint, with /data as a volume', () => {
    expect(dockerfile).toMatch(/^ENTRYPOINT \["ken-node"\]$/m);
    expect(dockerfile).toContain('ln -s /app/bin/ken-node.js /usr/local/bin/ken-node');
    expect(existsSync(inRepository('/app/bin/ken-node.js'))).toBe(true);
    expect(dockerfile).toMatch(/^VOLUME \/data$/m);
    // The same Node as the engines field allows.
    expect(dockerfile).toMatch(/^FROM node:(20|22)[-.]/m);
  });
});
