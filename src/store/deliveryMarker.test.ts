import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliveryMarker } from './deliveryMarker.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A mark file in a fresh directory. */
function markFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ken-mark-'));
  dirs.push(dir);
  return path.join(dir, 'delivery.mark');
}

/** What the next start reads from `file`, as a process that died now would leave it. */
const readByNextStart = (file: string) => {
  const reader = new DeliveryMarker(file);
  const unfinished = reader.unfinished;
  reader.close();
  return unfinished;
};

describe('DeliveryMarker', () => {
  it('names the delivery in progress to the next start, and a finished one until the next replaces it or the loop goes idle', () => {
    const file = markFile();
    const marker = new DeliveryMarker(file);
    expect(marker.unfinished).toBeUndefined();
    marker.begin('v1 run 7');
    expect(readByNextStart(file)).toBe('v1 run 7');
    marker.begin('v1 run 7');
    marker.end();
    // Not cleared yet: one write per delivery.
    expect(readByNextStart(file)).toBe('v1 run 7');
    marker.begin('v2 run 8');
    expect(readByNextStart(file)).toBe('v2 run 8');
    marker.end();
    marker.idle();
    expect(readByNextStart(file)).toBeUndefined();
    marker.begin('v2 run 9');
    marker.end();
    marker.close();
    expect(readByNextStart(file)).toBeUndefined();
  });

  it('keeps the mark of a delivery that never finished across idle', () => {
    const file = markFile();
    const marker = new DeliveryMarker(file);
    marker.begin('v1 reap');
    marker.idle();
    expect(readByNextStart(file)).toBe('v1 reap');
    marker.close();
  });
});
