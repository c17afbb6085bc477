import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryNetwork } from '../net/memoryTransport.js';
import type { KenNode } from '../node/node.js';
import { ensureVat } from '../node/bootstrapVat.js';
import type { recordingLogger } from '../../test/support/harness.js';
import { counterVat } from '../../test/support/nodeCli.js';
import { startNode, tempDirs } from '../../test/support/nodes.js';
import { adminRequest } from './client.js';
import { NodeMetrics } from './metrics.js';
import { AdminServer } from './server.js';

const token = 'a'.repeat(64);

/** Writes `request` as is (no client would send a malformed one) and answers the response's status line. */
function rawStatusLine(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.end(request));
    let received = '';
    socket.on('data', (chunk: Buffer) => void (received += chunk.toString('latin1')));
    socket.once('close', () => resolve(received.split('\r\n')[0] ?? ''));
    socket.once('error', reject);
  });
}

/** Opens and closes a TCP connection to `host:port`: 'connected', or the error code. */
function connects(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
const dirs = tempDirs();
let node: KenNode;
let server: AdminServer;
let metrics: NodeMetrics;
let logger: ReturnType<typeof recordingLogger>;

beforeEach(async () => {
  metrics = new NodeMetrics();
  ({ node, logger } = await startNode({ dir: dirs.make('ken-admin-'), transport: { kind: 'memory', network: new MemoryNetwork(), peerId: 'peerA' } }));
  await ensureVat(node, { vat: 'bootstrap', source: counterVat, parameters: {}, runtime: 'liveslots', services: [] }, logger);
  metrics.watch(node);
  server = await AdminServer.start({ node, metrics, started: new Date(), bootstrapVat: 'bootstrap', peerNames: new Map(), token, port: 0, logger });
});

afterEach(async () => {
  await server.close();
  await node.stop();
  dirs.cleanup();
});

describe('admin endpoint: the bearer token', () => {
  const routes = [
    ['GET', '/status'],
    ['GET', '/peers'],
    ['GET', '/metrics'],
    ['POST', '/url'],
    ['POST', '/call'],
    ['GET', '/no-such-route'],
  ] as const;

  it.each(routes)('%s %s without a token, or with a wrong one, is 401 and does nothing', async (method, route) => {
    const before = node.store.dump();
    for (const given of [undefined, 'b'.repeat(64), token.slice(1), '']) {
      const response = await adminRequest(server.url, given, method, route, method === 'POST' ? { method: 'send', args: ['x', 1] } : undefined);
      expect(response.status).toBe(401);
      expect(response.body).toEqual({ error: expect.stringContaining('bearer token') });
    }
    expect(node.store.dump()).toEqual(before);
  });

  it('with the token, every route answers', async () => {
    const status = await adminRequest(server.url, token, 'GET', '/status');
    expect(status).toMatchObject({ status: 200, body: { peerId: 'peerA', bootstrapVat: 'bootstrap', peers: [] } });
    expect(await adminRequest(server.url, token, 'GET', '/peers')).toEqual({ status: 200, body: [] });
    const metrics = await adminRequest(server.url, token, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('# TYPE ken_cranks_total counter');
    const url = await adminRequest(server.url, token, 'POST', '/url', {});
    expect(url).toMatchObject({ status: 200, body: { url: expect.stringMatching(/^ocap:[0-9a-f]{32}@peerA/) } });
    const call = await adminRequest(server.url, token, 'POST', '/call', { method: 'counts' });
    expect(call).toEqual({ status: 200, body: { result: { peers: [], sent: {}, received: 0 } } });
  });
});

describe('admin endpoint: requests', () => {
  it('a call that rejects is 422 with its message; unknown vats and routes 404; a bad body 400; a wrong method 405', async () => {
    expect(await adminRequest(server.url, token, 'POST', '/call', { method: 'send', args: ['nobody', 1] })).toMatchObject({
      status: 422,
      body: { error: expect.stringContaining('nobody') },
    });
    expect(await adminRequest(server.url, token, 'POST', '/url', { vat: 'other' })).toEqual({ status: 404, body: { error: 'no vat named "other"' } });
    expect((await adminRequest(server.url, token, 'GET', '/nowhere')).status).toBe(404);
    expect((await adminRequest(server.url, token, 'POST', '/call', { method: 'counts', extra: 1 })).status).toBe(400);
    expect((await adminRequest(server.url, token, 'GET', '/url')).status).toBe(405);
  });

  it('a request target that is no URL is 401 without the token and 400 with it, and the endpoint stays up', async () => {
    const port = Number(new URL(server.url).port);
    const statusLine = (headers: string) => rawStatusLine(port, `GET http://[ HTTP/1.1\r\nHost: x\r\n${headers}Connection: close\r\n\r\n`);
    expect(await statusLine('')).toBe('HTTP/1.1 401 Unauthorized');
    expect(await statusLine(`Authorization: Bearer ${token}\r\n`)).toBe('HTTP/1.1 400 Bad Request');
    expect((await adminRequest(server.url, token, 'GET', '/peers')).status).toBe(200);
  });

  it('listens on 127.0.0.1 only: another loopback address on the same port is refused', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const port = Number(new URL(server.url).port);
    // A socket bound to a wildcard address (0.0.0.0) would accept 127.0.0.2 too; one bound to 127.0.0.1 does not.
    expect(await connects('127.0.0.1', port)).toBe('connected');
    expect(await connects('127.0.0.2', port)).toBe('ECONNREFUSED');
  });
});

describe('admin endpoint: the log', () => {
  it('never keeps a query string, where a client may have put its token: not in the request line, not in a failure', async () => {
    vi.spyOn(metrics, 'render').mockRejectedValue(new Error('metrics broke'));
    expect((await adminRequest(server.url, token, 'GET', '/status?token=secret')).status).toBe(200);
    expect((await adminRequest(server.url, undefined, 'GET', '/peers?token=secret#secret')).status).toBe(401);
    expect((await adminRequest(server.url, token, 'GET', '/nowhere?token=secret')).status).toBe(404);
    expect((await adminRequest(server.url, token, 'GET', '/metrics?token=secret')).status).toBe(500);
    const requests = logger.entries.filter((entry) => entry.message?.startsWith('admin request') === true);
    expect(requests.map((entry) => [entry.message, entry.object])).toEqual([
      ['admin request', { method: 'GET', path: '/status', status: 200 }],
      ['admin request', { method: 'GET', path: '/peers', status: 401 }],
      ['admin request', { method: 'GET', path: '/nowhere', status: 404 }],
      ['admin request failed', { err: expect.any(Error), method: 'GET', path: '/metrics' }],
      ['admin request', { method: 'GET', path: '/metrics', status: 500 }],
    ]);
    expect(JSON.stringify(logger.entries)).not.toContain('secret');
  });
});
