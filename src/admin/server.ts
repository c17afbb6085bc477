import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../util/logger.js';
import { AdminRequestError, adminRoutes, type AdminContext, type Reply, type Route } from './routes.js';

/** The only address the admin endpoint binds: it is for the node's own host. */
const adminHost = '127.0.0.1';
/** Request bodies larger than this are refused (413). */
const adminBodyBytesMax = 64 * 1024;

export interface AdminServerOptions extends AdminContext {
  token: string;
  /** 0 lets the OS pick; {@link AdminServer.url} says which. */
  port: number;
  logger: Logger;
}

/**
 * The admin HTTP endpoint: JSON status, peers, Prometheus metrics, ocap URL
 * issuing and calls into vats, on loopback only, each request authorized by
 * the bearer token from the data directory (401 without it).
 */
export class AdminServer {
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(options: AdminServerOptions): Promise<AdminServer> {
    const routes = adminRoutes(options);
    const authorized = bearerCheck(options.token);
    const server = createServer((request, response) => {
      // Nothing a client sends may end the process as an unhandled rejection.
      serve(request, response, routes, authorized, options.logger).catch((error: unknown) => {
        options.logger.error({ err: error }, 'admin request failed');
        response.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, adminHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    return new AdminServer(server, `http://${adminHost}:${port}`);
  }

  /** Stops listening and drops open connections (a request in progress gets no answer). */
  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    return closed;
  }
}

/** Compares digests, so the time taken says nothing about how much of the token was right. */
function bearerCheck(token: string): (header: string | undefined) => boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  const expected = digest(`Bearer ${token}`);
  return (header) => header !== undefined && timingSafeEqual(digest(header), expected);
}

async function serve(
  request: IncomingMessage,
  response: ServerResponse,
  routes: Record<string, Route>,
  authorized: (header: string | undefined) => boolean,
  logger: Logger,
): Promise<void> {
  const method = request.method ?? 'GET';
  const target = request.url ?? '/';
  const logged = { method, path: withoutQuery(target) };
  let reply: Reply;
  try {
    reply = await answer(request, method, target, routes, authorized);
  } catch (error) {
    if (error instanceof AdminRequestError) {
      reply = { status: error.status, json: { error: error.message } };
    } else {
      logger.error({ err: error, ...logged }, 'admin request failed');
      reply = { status: 500, json: { error: error instanceof Error ? error.message : String(error) } };
    }
  }
  logger.debug({ ...logged, status: reply.status }, 'admin request');
  if ('json' in reply) {
    if (reply.status === 401) response.setHeader('www-authenticate', 'Bearer realm="ken-node"');
    response.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8' });
    response.end(`${JSON.stringify(reply.json)}\n`);
  } else {
    response.writeHead(reply.status, { 'content-type': reply.contentType });
    response.end(reply.text);
  }
}

async function answer(
  request: IncomingMessage,
  method: string,
  target: string,
  routes: Record<string, Route>,
  authorized: (header: string | undefined) => boolean,
): Promise<Reply> {
  // Before anything else: without the token, not even whether a route exists is said.
  if (!authorized(request.headers.authorization)) {
    request.resume();
    return { status: 401, json: { error: 'missing or wrong bearer token (see <data-dir>/admin-token)' } };
  }
  const pathname = pathOf(target);
  const route = routes[`${method} ${pathname}`];
  if (route === undefined) {
    request.resume();
    const known = Object.keys(routes).filter((key) => key.endsWith(` ${pathname}`));
    return known.length > 0
      ? { status: 405, json: { error: `${pathname} answers ${known.map((key) => key.split(' ')[0]).join(', ')}` } }
      : { status: 404, json: { error: `no route ${method} ${pathname}; routes: ${Object.keys(routes).join(', ')}` } };
  }
  return route(method === 'POST' ? await readJsonBody(request) : undefined);
}

/**
 * A request target as logged: without its query or fragment, where a client
 * may have put a secret (`?token=...`) that the log must not keep. Plain text
 * work, so that it holds for targets that are no URL too.
 */
function withoutQuery(target: string): string {
  return target.replace(/[?#].*$/s, '');
}

/** The path of a request target; HTTP lets through targets that are no URL (`http://[`): a 400. */
function pathOf(target: string): string {
  try {
    return new URL(target, 'http://admin').pathname;
  } catch {
    throw new AdminRequestError(400, `request target is not a URL: ${JSON.stringify(target.slice(0, 256))}`);
  }
}

async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > adminBodyBytesMax) throw new AdminRequestError(413, `request body larger than ${adminBodyBytesMax} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new AdminRequestError(400, `request body is not JSON: ${(error as Error).message}`);
  }
}
