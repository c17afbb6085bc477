import { chmodSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dataDirFiles, secretFiles } from '../../src/config/dataDir.js';
import { freePort } from '../../src/util/ports.js';
import { tempDirs } from '../support/nodes.js';
import { nodeProcesses } from '../support/nodeCli.js';

const dirs = tempDirs();
const nodes = nodeProcesses();
let umask: number;
// The children inherit it: what users and CI usually run with (new files 0644, new directories 0755).
beforeAll(() => void (umask = process.umask(0o022)));
afterAll(() => process.umask(umask));
afterEach(() => {
  nodes.killAll();
  dirs.cleanup();
});

const modeOf = (file: string) => statSync(file).mode & 0o777;

describe('ken-node CLI: the data directory is for the node\'s user alone', () => {
  it('init narrows a directory made with mkdir; start refuses a directory or a secret file open to others until chmod-ed', async () => {
    const dir = path.join(dirs.make('ken-modes-'), 'node');
    const files = dataDirFiles(dir);
    mkdirSync(dir);
    expect(modeOf(dir)).toBe(0o755);

    const init = await nodes.run(['init', '--data-dir', dir, '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`]);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(modeOf(dir)).toBe(0o700);
    for (const file of [files.config, files.store, files.adminToken]) expect(modeOf(file), file).toBe(0o600);

    chmodSync(dir, 0o755);
    const openDirectory = await nodes.run(['start', '--data-dir', dir]);
    expect(openDirectory.code, openDirectory.stderr).toBe(2);
    expect(openDirectory.stderr).toBe(`ken-node: unsafe mode: ${dir} (the data directory) has mode 0755, open to group or others: chmod 700 ${dir}\n`);
    chmodSync(dir, 0o700);

    chmodSync(files.store, 0o644);
    chmodSync(files.adminToken, 0o640);
    const openFiles = await nodes.run(['start', '--data-dir', dir]);
    expect(openFiles.code, openFiles.stderr).toBe(2);
    expect(openFiles.stderr).toContain(`${files.store} (a secret file of the data directory) has mode 0644, open to group or others: chmod 600 ${files.store}\n`);
    expect(openFiles.stderr).toContain(`${files.adminToken} (a secret file of the data directory) has mode 0640, open to group or others: chmod 600 ${files.adminToken}\n`);
    expect(openFiles.stderr).not.toContain('node started');

    chmodSync(files.store, 0o600);
    chmodSync(files.adminToken, 0o600);
    const node = await nodes.start(dir);
    // The store's WAL and index, made by SQLite while the node runs, have the store's mode.
    for (const file of secretFiles(files)) expect(modeOf(file), file).toBe(0o600);
    node.child.kill('SIGTERM');
    expect(await node.exited).toMatchObject({ code: 0, signal: null });
  }, 60_000);
});
