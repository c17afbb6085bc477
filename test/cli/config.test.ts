import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dataDirFiles } from '../../src/config/dataDir.js';
import { tempDirs } from '../support/nodes.js';
import { nodeProcesses } from '../support/nodeCli.js';

const dirs = tempDirs();
const nodes = nodeProcesses();
afterEach(() => nodes.killAll());

let dataDir: string;
let goodConfig: string;
beforeAll(async () => {
  dataDir = path.join(dirs.make('ken-config-'), 'node');
  const exit = await nodes.run(['init', '--data-dir', dataDir, '--listen', '/ip4/127.0.0.1/tcp/0']);
  expect(exit.code).toBe(0);
  goodConfig = readFileSync(dataDirFiles(dataDir).config, 'utf8');
  return () => dirs.cleanup();
});

/** Writes the config with `change` applied to the one `init` wrote. */
function editConfig(change: (config: Record<string, unknown>) => void): void {
  const config = JSON.parse(goodConfig) as Record<string, unknown>;
  change(config);
  writeFileSync(dataDirFiles(dataDir).config, JSON.stringify(config));
}

/** A start that must be refused before the node starts: exit 2, its message in stderr, no admin endpoint. */
async function refusedStart(args: string[] = [], env: Record<string, string> = {}): Promise<string> {
  const exit = await nodes.run(['start', '--data-dir', dataDir, ...args], env);
  expect(exit.code, exit.stderr).toBe(2);
  expect(existsSync(dataDirFiles(dataDir).adminEndpoint)).toBe(false);
  expect(exit.stderr).not.toContain('node started');
  return exit.stderr;
}

describe('ken-node CLI: a bad configuration is refused with the field named, and the node does not start', () => {
  afterEach(() => writeFileSync(dataDirFiles(dataDir).config, goodConfig));

  it('a bad value in the file: the field, the value, the file and the allowed values', async () => {
    editConfig((config) => (config.durability = 'sometimes'));
    const stderr = await refusedStart();
    expect(stderr).toContain('durability = "sometimes"');
    expect(stderr).toContain(dataDirFiles(dataDir).config);
    expect(stderr).toContain('one of fsync, process');
  });

  it('a bad value in an environment variable names the variable', async () => {
    const stderr = await refusedStart([], { KEN_DURABILITY: 'sometimes' });
    expect(stderr).toContain('durability = "sometimes" (from KEN_DURABILITY): expected one of fsync, process');
  });

  it('a bad value in a flag names the flag, and beats the variable', async () => {
    const stderr = await refusedStart(['--admin-port', 'eighty'], { KEN_ADMIN_PORT: '8080' });
    expect(stderr).toContain('admin.port = "eighty" (from --admin-port): expected a whole number from 0 to 65535');
  });

  it('an unknown field (a typo) is named, with the fields allowed there', async () => {
    editConfig((config) => (config.commit = { maxCranks: 10, maxDelayMS: 5 }));
    const stderr = await refusedStart();
    expect(stderr).toContain('unknown field "commit.maxDelayMS"');
    expect(stderr).toContain('maxCranks, maxDelayMs');
  });

  it('several problems are all named, one per line', async () => {
    editConfig((config) => {
      config.listen = [];
      config.peers = { b: 'http://not-an-ocap-url' };
    });
    const lines = (await refusedStart(['--commit-cranks', '0'])).trim().split('\n');
    expect(lines).toEqual([
      expect.stringContaining('listen = [] (from'),
      expect.stringContaining('commit.maxCranks = 0 (from --commit-cranks): expected a whole number from 1 to 1000000'),
      expect.stringContaining('peers.b = "http://not-an-ocap-url" (from'),
    ]);
  });

  it('a file that is not JSON, and a data directory never initialized', async () => {
    writeFileSync(dataDirFiles(dataDir).config, '{ "durability": ');
    expect(await refusedStart()).toContain('is not JSON');
    const fresh = path.join(dirs.make('ken-config-'), 'none');
    const exit = await nodes.run(['start', '--data-dir', fresh]);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain(`run \`ken-node init --data-dir ${fresh}\``);
  });

  it('init refuses bad flags before it writes anything', async () => {
    const fresh = path.join(dirs.make('ken-config-'), 'node');
    const exit = await nodes.run(['init', '--data-dir', fresh, '--durability', 'sometimes', '--peer', 'nameless']);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain('peers entry "nameless" (from --peer): expected name=ocap-url');
    expect(existsSync(fresh)).toBe(false);
  });

  it('usage errors exit 2: an unknown flag, a missing --data-dir', async () => {
    expect((await nodes.run(['start', '--data-dir', dataDir, '--bogus'])).code).toBe(2);
    const exit = await nodes.run(['status']);
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain('--data-dir');
  });

  it('--help on every node command exits 0 and names the variables', async () => {
    const settings = ['KEN_LISTEN', 'KEN_DURABILITY', 'KEN_COMMIT_CRANKS', 'KEN_COMMIT_DELAY_MS', 'KEN_MAX_FRAME_BYTES', 'KEN_ADMIN_PORT', 'KEN_LOG_LEVEL', 'KEN_BOOTSTRAP', 'KEN_PEERS'];
    for (const command of ['init', 'start', 'status', 'peers', 'url', 'call']) {
      const exit = await nodes.run([command, '--help']);
      expect(exit.code, command).toBe(0);
      expect(exit.stdout, command).toContain('KEN_DATA_DIR');
      if (command === 'init' || command === 'start') {
        for (const variable of settings) expect(exit.stdout, command).toContain(variable);
      }
    }
  });

  it('a client command with no node running says so and exits 1', async () => {
    const exit = await nodes.run(['status', '--data-dir', dataDir]);
    expect(exit.code).toBe(1);
    expect(exit.stderr).toContain('no node is running');
  });
});
