import net from 'node:net';

/**
 * A TCP proxy for fault injection on one link between two node processes on
 * loopback. A chaos runner starts it in front of a peer's listening port and
 * drives it: stall the link, partition it, reset connections, cut a stream
 * mid-frame. It never binds or connects to anything but a loopback address.
 */

export type ProxyMode = 'pass' | 'stall' | 'drop';
export type ProxyDirection = 'both' | 'toTarget' | 'fromTarget';

export interface ProxyStats {
  /** Connections accepted and forwarded to the target. */
  accepted: number;
  /** Connections destroyed on arrival because the link was dropped both ways. */
  refused: number;
  /** Connections the proxy tore down as a fault: drop, resetAll, truncateAfter, stall overflow. */
  resets: number;
  /** Bytes written onward, both directions together. */
  bytesForwarded: number;
  /** Connections not yet closed. */
  open: number;
}

export interface TcpProxyOptions {
  target: { host: string; port: number };
  /** Defaults to 127.0.0.1. */
  listenHost?: string;
  /** Defaults to 0 (any free port). */
  listenPort?: number;
}

type Leg = Exclude<ProxyDirection, 'both'>;
type Counts = Omit<ProxyStats, 'open'>;

/** Bytes held per connection per direction while stalled; past this the connection is destroyed rather than growing memory without bound. */
const MAX_HELD_BYTES = 16 * 1024 * 1024;

const loopback = new net.BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** Only IP literals: a host name could resolve anywhere, so it cannot be checked up front. */
function assertLoopback(host: string, what: string): void {
  const family = net.isIP(host);
  if (family === 0 || !loopback.check(host, family === 4 ? 'ipv4' : 'ipv6')) {
    throw new Error(`TcpProxy: ${what} ${JSON.stringify(host)} is not a loopback IP address (127.0.0.0/8 or ::1)`);
  }
}

function assertPort(port: number, min: number, what: string): void {
  if (!Number.isInteger(port) || port < min || port > 65535) {
    throw new Error(`TcpProxy: ${what} ${port} is not a valid port`);
  }
}

/** Closes with an RST rather than a FIN, as a crashed middlebox would. */
function hardClose(socket: net.Socket): void {
  if (socket.destroyed) return;
  // resetAndDestroy on a socket still connecting would wait for the connect; just drop it.
  if (socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

export class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #server: net.Server;
  readonly #connections = new Set<Connection>();
  readonly #modes: Record<Leg, ProxyMode> = { toTarget: 'pass', fromTarget: 'pass' };
  readonly #counts: Counts = { accepted: 0, refused: 0, resets: 0, bytesForwarded: 0 };
  #host = '';
  #port = 0;
  #closing: Promise<void> | undefined;

  static async start(options: TcpProxyOptions): Promise<TcpProxy> {
    const { target } = options;
    const listenHost = options.listenHost ?? '127.0.0.1';
    const listenPort = options.listenPort ?? 0;
    assertLoopback(target.host, 'target host');
    assertPort(target.port, 1, 'target port');
    assertLoopback(listenHost, 'listen host');
    assertPort(listenPort, 0, 'listen port');
    const proxy = new TcpProxy(target);
    await proxy.#listen(listenHost, listenPort);
    return proxy;
  }

  private constructor(target: { host: string; port: number }) {
    this.#target = { host: target.host, port: target.port };
    this.#server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => this.#accept(client));
  }

  get host(): string {
    return this.#host;
  }

  get port(): number {
    return this.#port;
  }

  get stats(): ProxyStats {
    return { ...this.#counts, open: this.#connections.size };
  }

  /**
   * pass: forward bytes. stall: keep connections open and hold bytes (up to
   * 16 MiB per connection per direction), delivered in order on pass. drop,
   * both ways: a partition; existing connections are destroyed, and new ones
   * are destroyed on arrival.
   *
   * With a single direction, only that direction changes. A one-way drop
   * silently discards that direction's bytes and keeps the connection: for an
   * encrypted, framed protocol that corrupts the stream, so the peers see a
   * broken connection. That is intended. New connections are refused whenever
   * both directions are in drop mode. Bytes held by a stall are lost on drop.
   */
  setMode(mode: ProxyMode, direction: ProxyDirection = 'both'): void {
    const legs: Leg[] = direction === 'both' ? ['toTarget', 'fromTarget'] : [direction];
    for (const leg of legs) this.#modes[leg] = mode;
    for (const connection of this.#connections) {
      if (mode === 'drop' && direction === 'both') connection.destroy(true);
      else connection.setModes(this.#modes);
    }
  }

  /** Resets every open connection, both sides at once, mid-frame if bytes are in flight. New connections are still accepted per mode. */
  resetAll(): void {
    for (const connection of this.#connections) connection.destroy(true);
  }

  /** On each existing connection, forwards the next `bytes` bytes (both directions counted together), then destroys it: a truncated frame. */
  truncateAfter(bytes: number): void {
    if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`TcpProxy: truncateAfter(${bytes}) needs a non-negative integer`);
    for (const connection of this.#connections) connection.truncateAfter(bytes);
  }

  /** Stops listening and destroys every connection; resolves once all sockets are closed. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      const connections = [...this.#connections];
      for (const connection of connections) connection.destroy(false);
      await Promise.all([stopped, ...connections.map((connection) => connection.closed)]);
    })();
    return this.#closing;
  }

  #listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ host, port }, () => {
        this.#server.off('error', reject);
        // Accept errors (e.g. EMFILE) must not crash the chaos runner; the connection is simply lost.
        this.#server.on('error', () => {});
        const address = this.#server.address() as net.AddressInfo;
        this.#host = address.address;
        this.#port = address.port;
        resolve();
      });
    });
  }

  #accept(client: net.Socket): void {
    client.on('error', () => {});
    if (this.#closing || (this.#modes.toTarget === 'drop' && this.#modes.fromTarget === 'drop')) {
      this.#counts.refused += 1;
      hardClose(client);
      return;
    }
    this.#counts.accepted += 1;
    const target = net.connect({ ...this.#target, allowHalfOpen: true, noDelay: true });
    const connection = new Connection(client, target, this.#modes, this.#counts);
    this.#connections.add(connection);
    void connection.closed.then(() => this.#connections.delete(connection));
  }
}

/** One proxied connection: the accepted client socket and the socket to the target. */
class Connection {
  readonly closed: Promise<void>;
  readonly #counts: Counts;
  readonly #sockets: [net.Socket, net.Socket];
  readonly #pipes: Record<Leg, Pipe>;
  /** Bytes left before truncation, if truncateAfter was called. */
  #budget: number | undefined;
  /** Set once the proxy has decided to end this connection: nothing more is forwarded. */
  #done = false;

  constructor(client: net.Socket, target: net.Socket, modes: Record<Leg, ProxyMode>, counts: Counts) {
    this.#counts = counts;
    this.#sockets = [client, target];
    this.#pipes = {
      toTarget: new Pipe(this, client, target, modes.toTarget),
      fromTarget: new Pipe(this, target, client, modes.fromTarget),
    };
    const closes = this.#sockets.map((socket, i) => {
      // A reset or refused connect arrives as 'error' then 'close'; 'close' handles it.
      socket.on('error', () => {});
      return new Promise<void>((resolve) =>
        socket.once('close', (hadError) => {
          // A socket closed after a clean end both ways needs nothing; otherwise carry the breakage to the other side.
          if (hadError || !socket.readableEnded) this.#abort(this.#sockets[1 - i]!);
          resolve();
        }),
      );
    });
    this.closed = Promise.all(closes).then(() => {});
  }

  setModes(modes: Record<Leg, ProxyMode>): void {
    this.#pipes.toTarget.setMode(modes.toTarget);
    this.#pipes.fromTarget.setMode(modes.fromTarget);
  }

  truncateAfter(bytes: number): void {
    if (this.#done) return;
    if (bytes === 0) this.destroy(true);
    else this.#budget = bytes;
  }

  /** Resets both sides; `fault` counts it in the stats. */
  destroy(fault: boolean): void {
    if (this.#done) return;
    this.#done = true;
    if (fault) this.#counts.resets += 1;
    for (const socket of this.#sockets) hardClose(socket);
  }

  /** Writes `chunk` onward, honouring a truncation budget; false when `dst` wants the writer to pause. */
  forward(dst: net.Socket, chunk: Buffer): boolean {
    if (this.#done) return true;
    if (this.#budget !== undefined && chunk.length >= this.#budget) {
      const last = chunk.subarray(0, this.#budget);
      this.#done = true;
      this.#counts.resets += 1;
      this.#counts.bytesForwarded += last.length;
      // Close gracefully after the last bytes are flushed: an RST could discard them still in the send queue.
      dst.end(last, () => {
        for (const socket of this.#sockets) socket.destroy();
      });
      return true;
    }
    if (this.#budget !== undefined) this.#budget -= chunk.length;
    this.#counts.bytesForwarded += chunk.length;
    return dst.write(chunk);
  }

  /** Ends a direction (half-close) unless the connection is being torn down. */
  end(dst: net.Socket): void {
    if (!this.#done) dst.end();
  }

  #abort(socket: net.Socket): void {
    this.#done = true;
    hardClose(socket);
  }
}

/** One direction of a connection: reads `src`, forwards to `dst` according to its mode. */
class Pipe {
  readonly #connection: Connection;
  readonly #src: net.Socket;
  readonly #dst: net.Socket;
  #mode: ProxyMode;
  #held: Buffer[] = [];
  #heldBytes = 0;
  /** `src` ended while stalled: the FIN is held too, and delivered after the bytes. */
  #heldEnd = false;

  constructor(connection: Connection, src: net.Socket, dst: net.Socket, mode: ProxyMode) {
    this.#connection = connection;
    this.#src = src;
    this.#dst = dst;
    this.#mode = mode;
    src.on('data', (chunk: Buffer) => this.#onData(chunk));
    src.on('end', () => {
      if (this.#mode === 'stall') this.#heldEnd = true;
      else this.#connection.end(dst);
    });
    // Backpressure: `src` is paused while `dst` has more than its high-water mark queued.
    dst.on('drain', () => src.resume());
  }

  setMode(mode: ProxyMode): void {
    this.#mode = mode;
    if (mode === 'stall') return;
    const held = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    if (mode === 'pass') for (const chunk of held) this.#forward(chunk);
    if (this.#heldEnd) {
      this.#heldEnd = false;
      this.#connection.end(this.#dst);
    }
  }

  #onData(chunk: Buffer): void {
    switch (this.#mode) {
      case 'pass':
        this.#forward(chunk);
        return;
      case 'stall':
        this.#held.push(chunk);
        this.#heldBytes += chunk.length;
        if (this.#heldBytes > MAX_HELD_BYTES) this.#connection.destroy(true);
        return;
      case 'drop':
        return;
    }
  }

  #forward(chunk: Buffer): void {
    if (!this.#connection.forward(this.#dst, chunk)) this.#src.pause();
  }
}
