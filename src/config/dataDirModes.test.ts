import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dataDirFiles, secretFiles, type DataDirFiles } from './dataDir.js';
import { makeDataDirPrivate, refuseExposedDataDir } from './dataDirModes.js';
import { ConfigError } from './errors.js';

let root: string;
let files: DataDirFiles;
let umask: number;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'ken-modes-'));
  files = dataDirFiles(path.join(root, 'node'));
  // What users and CI usually run with: new files 0644, new directories 0755.
  umask = process.umask(0o022);
});
afterEach(() => {
  process.umask(umask);
  rmSync(root, { recursive: true, force: true });
});

const modeOf = (file: string) => statSync(file).mode & 0o777;

/** A data directory as `mkdir` and a careless copy leave it: 0755, every secret file 0644. */
function exposedDataDir(): void {
  mkdirSync(files.directory, { mode: 0o755 });
  for (const file of secretFiles(files)) writeFileSync(file, '', { mode: 0o644 });
}

describe('the modes of a data directory', () => {
  it('init narrows an existing 0755 directory to 0700 and every secret file in it to 0600; then start accepts it', () => {
    exposedDataDir();
    writeFileSync(files.adminEndpoint, '{}', { mode: 0o644 });
    expect(() => refuseExposedDataDir(files)).toThrow(ConfigError);
    makeDataDirPrivate(files);
    expect(modeOf(files.directory)).toBe(0o700);
    for (const file of secretFiles(files)) expect(modeOf(file), file).toBe(0o600);
    expect(modeOf(files.adminEndpoint)).toBe(0o644); // not a secret: left alone
    expect(() => refuseExposedDataDir(files)).not.toThrow();
  });

  it('init makes a missing directory 0700, whatever the umask', () => {
    process.umask(0o000);
    makeDataDirPrivate(files);
    expect(modeOf(files.directory)).toBe(0o700);
    // Only the directory: secret files not made yet are fine.
    expect(() => refuseExposedDataDir(files)).not.toThrow();
  });

  it('start names every path open to group or others, with its mode and the chmod that fixes it', () => {
    exposedDataDir();
    let message = '';
    try {
      refuseExposedDataDir(files);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.split('\n')).toEqual([
      `unsafe mode: ${files.directory} (the data directory) has mode 0755, open to group or others: chmod 700 ${files.directory}`,
      ...secretFiles(files).map((file) => `unsafe mode: ${file} (a secret file of the data directory) has mode 0644, open to group or others: chmod 600 ${file}`),
    ]);
  });

  it('any bit for group or others is refused, a write bit as much as a read bit', () => {
    makeDataDirPrivate(files);
    writeFileSync(files.adminToken, '', { mode: 0o600 });
    for (const mode of [0o602, 0o620, 0o601, 0o604]) {
      chmodSync(files.adminToken, mode);
      expect(() => refuseExposedDataDir(files)).toThrow(`chmod 600 ${files.adminToken}`);
    }
    chmodSync(files.adminToken, 0o400);
    chmodSync(files.directory, 0o711);
    expect(() => refuseExposedDataDir(files)).toThrow(/has mode 0711.*: chmod 700 /);
  });

  it('quotes a path the shell would split, so that the fix can be pasted', () => {
    files = dataDirFiles(path.join(root, "my node's dir"));
    mkdirSync(files.directory, { mode: 0o755 });
    expect(() => refuseExposedDataDir(files)).toThrow(`chmod 700 '${path.join(root, "my node'\\''s dir")}'`);
  });
});
