import { describe, expect, it } from 'vitest';
import { recordingLogger } from '../../test/support/harness.js';
import type { Clock } from './clock.js';
import { PeerWarnings } from './peerWarnings.js';

describe('PeerWarnings', () => {
  it('logs the first warning of a kind per peer and interval, and says how many it left out on the next line', () => {
    let now = 0;
    const clock: Clock = { now: () => now, epochMs: () => now, setTimeout: () => ({ timer: undefined }), clearTimeout: () => {} };
    const logger = recordingLogger();
    const warnings = new PeerWarnings(logger, clock, 1000);
    for (let index = 0; index < 50; index += 1) warnings.warn('P', 'bad-frame', { index }, 'bad frame');
    warnings.warn('Q', 'bad-frame', {}, 'bad frame');
    warnings.warn('P', 'refused', {}, 'refused');
    expect(logger.entries.map((entry) => [entry.message, entry.object])).toEqual([
      ['bad frame', { peerId: 'P', index: 0 }],
      ['bad frame', { peerId: 'Q' }],
      ['refused', { peerId: 'P' }],
    ]);
    now += 1000;
    warnings.warn('P', 'bad-frame', { index: 50 }, 'bad frame');
    expect(logger.entries.at(-1)?.object).toEqual({ peerId: 'P', index: 50, suppressed: 49 });
    warnings.warn('P', 'bad-frame', { index: 51 }, 'bad frame');
    expect(logger.entries).toHaveLength(4);
  });
});
