import { request } from 'node:http';
import type { DataDirFiles } from '../config/dataDir.js';
import { readAdminEndpoint } from './endpointFile.js';
import { readAdminToken } from './token.js';

/** A client command could not get an answer from the node's admin endpoint, or got a refusal. */
export class AdminClientError extends Error {
  override name = 'AdminClientError';
}

export interface AdminResponse {
  status: number;
  /** The parsed JSON body, or the text of a non-JSON one (`/metrics`). */
  body: unknown;
}

/** Answers larger than this are refused rather than buffered without bound. */
const responseBytesMax = 16 * 1024 * 1024;
const requestTimeoutMs = 30_000;

/** One HTTP request to an admin endpoint; `token` undefined sends no Authorization header. */
export function adminRequest(
  baseUrl: string,
  token: string | undefined,
  method: 'GET' | 'POST',
  route: string,
  body?: unknown,
): Promise<AdminResponse> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (payload !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const outgoing = request(new URL(route, baseUrl), { method, headers, timeout: requestTimeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > responseBytesMax) response.destroy(new Error(`answer larger than ${responseBytesMax} bytes`));
        else chunks.push(chunk);
      });
      response.on('error', reject);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const isJson = (response.headers['content-type'] ?? '').startsWith('application/json');
        try {
          resolve({ status: response.statusCode ?? 0, body: isJson ? (JSON.parse(text) as unknown) : text });
        } catch (error) {
          reject(error);
        }
      });
    });
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${requestTimeoutMs} ms`)));
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}

/**
 * A request to the node running on `files`' data directory, found through
 * `admin.json` and authorized with `admin-token`; resolves with the body of
 * a 2xx answer and throws {@link AdminClientError} otherwise.
 */
export async function askNode(files: DataDirFiles, method: 'GET' | 'POST', route: string, body?: unknown): Promise<unknown> {
  const endpoint = readAdminEndpoint(files.adminEndpoint);
  if (endpoint === undefined) {
    throw new AdminClientError(`no node is running on ${files.directory} (no ${files.adminEndpoint}); start one with \`ken-node start --data-dir ${files.directory}\``);
  }
  const token = readAdminToken(files.adminToken);
  let response: AdminResponse;
  try {
    response = await adminRequest(endpoint.url, token, method, route, body);
  } catch (error) {
    throw new AdminClientError(`no answer from the node at ${endpoint.url} (pid ${endpoint.pid}): ${(error as Error).message}; is it running?`);
  }
  if (response.status < 200 || response.status > 299) {
    const reason = typeof response.body === 'object' && response.body !== null && 'error' in response.body ? response.body.error : response.body;
    throw new AdminClientError(`${method} ${route}: ${response.status}: ${String(reason)}`);
  }
  return response.body;
}
