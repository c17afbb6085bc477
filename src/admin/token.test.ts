import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureAdminToken, readAdminToken } from './token.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ken-token-'));
  file = path.join(dir, 'admin-token');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('admin token', () => {
  it('is made once, for the owner alone, whatever the umask', () => {
    const umask = process.umask(0o000);
    try {
      const token = ensureAdminToken(file);
      expect(token).toMatch(/^[0-9a-f]{64}$/);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      // init run again keeps the token its clients already use.
      expect(ensureAdminToken(file)).toBe(token);
      expect(readAdminToken(file)).toBe(token);
    } finally {
      process.umask(umask);
    }
  });

  it('a file that holds no token is refused', () => {
    writeFileSync(file, 'secret');
    expect(() => readAdminToken(file)).toThrow('does not hold an admin token');
  });
});
