import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockExclusively, LockedError } from './processLock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ken-lock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('process lock', () => {
  it('is held by one holder at a time and free again once released', () => {
    const file = path.join(dir, 'node.lock');
    const first = lockExclusively(file);
    expect(() => lockExclusively(file)).toThrow(LockedError);
    first.release();
    lockExclusively(file).release();
  });
});
