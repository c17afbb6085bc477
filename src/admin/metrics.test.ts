import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../util/packageRoot.js';
import { NodeMetrics } from './metrics.js';

describe('metrics', () => {
  it('are the ones docs/operations.md lists, no more, no fewer', () => {
    const docs = readFileSync(path.join(packageRoot, 'docs', 'operations.md'), 'utf8');
    const documented = [...docs.matchAll(/^\| `(ken_[a-z_]+)(?:\{[a-z,]+\})?` \|/gm)].map((match) => match[1]);
    const registered = new NodeMetrics().registry.getMetricsAsArray().map((metric) => metric.name);
    expect(documented.sort()).toEqual(registered.sort());
  });

  it('observe COMMIT durations in seconds, before any node is watched', async () => {
    const metrics = new NodeMetrics();
    metrics.kernelObserver.committed?.(2_000_000n);
    const text = await metrics.render();
    expect(text).toContain('ken_commit_duration_seconds_count 1');
    expect(text).toContain('ken_commit_duration_seconds_sum 0.002');
  });
});
