import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { adminRoutes } from '../../src/admin/routes.js';
import { NodeMetrics } from '../../src/admin/metrics.js';
import { nodeStatus } from '../../src/admin/nodeStatus.js';
import { MemoryNetwork } from '../../src/net/memoryTransport.js';
import { ensureVat } from '../../src/node/bootstrapVat.js';
import { KenNode } from '../../src/node/node.js';
import { packageRoot } from '../../src/util/packageRoot.js';
import { recordingLogger } from '../support/harness.js';
import { startNode, tempDirs } from '../support/nodes.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const faultyVat = path.join(packageRoot, 'test', 'vats', 'faulty.js');
const spec = { vat: 'bootstrap', source: faultyVat, parameters: {}, runtime: 'liveslots' as const, services: [] };

describe('a node starts whatever state its bootstrap vat is in', () => {
  it('starts with a terminated bootstrap vat: says so, and the admin API answers 409 instead of failing the start for good', async () => {
    const dir = dirs.make('ken-node-');
    const { node, logger } = await startNode({ dir, transport: { kind: 'memory', network: new MemoryNetwork(), peerId: 'A' } });
    const root = await ensureVat(node, spec, logger);
    expect(root).toBeDefined();
    expect(await node.kernel.call(root!, 'exit', ['on purpose'])).toBe('exiting');
    await node.stop();

    const restartLogger = recordingLogger();
    const again = await KenNode.start({ storePath: path.join(dir, 'kernel.sqlite'), durability: 'process', logger: restartLogger, transport: { kind: 'memory', network: new MemoryNetwork(), peerId: 'A' } });
    expect(await ensureVat(again, spec, restartLogger)).toBeUndefined();
    expect(restartLogger.entries.find((entry) => entry.message === 'a configured vat was terminated: the node runs without it')?.object).toMatchObject({
      vat: 'bootstrap',
      reason: 'it exited: "on purpose"',
    });
    const routes = adminRoutes({ node: again, metrics: new NodeMetrics(), started: new Date(), bootstrapVat: 'bootstrap', peerNames: new Map() });
    await expect(routes['POST /call']!({ method: 'writes' })).rejects.toMatchObject({ status: 409, message: expect.stringContaining('was terminated: it exited') });
    expect(nodeStatus(again, new Date(), 'bootstrap').vats).toEqual([{ name: 'bootstrap', vatId: 'v1', state: 'terminated', reason: 'it exited: "on purpose"', runtime: 'liveslots' }]);
    await again.stop();
  });
});
